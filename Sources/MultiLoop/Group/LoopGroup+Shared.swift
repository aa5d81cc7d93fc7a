import _MultiLoopEventLoop
import _MultiLoopSystem

extension LoopGroup {
    /// A group shared by the whole process, created on first use with one loop per usable CPU
    /// (threads "ml-shared-<i>"), never shut down (`syncShutdownGracefully()` throws
    /// `.sharedGroupCannotShutDown`). SwiftNIO: `MultiThreadedEventLoopGroup.singleton`.
    ///
    /// For programs that just want loops; a library should let its user pass a group in.
    ///
    /// - Throws: `LoopGroupError.loopCreationFailed` if the loops cannot be created (out of file
    ///   descriptors); the next access tries again.
    public static var shared: LoopGroup {
        get throws(LoopGroupError) {
            let outcome = sharedGroup.withLock { group -> Result<LoopGroup, LoopGroupError> in
                if let group { return .success(group) }
                do throws(LoopGroupError) {
                    let created = try LoopGroup(count: nil, name: "shared", pinToCores: false,
                                                spinBeforeSleep: .microseconds(20), shared: true)
                    group = created
                    return .success(created)
                } catch {
                    return .failure(error)
                }
            }
            return try outcome.get()
        }
    }
}

/// The shared group once created (it is never released).
private let sharedGroup = LockedValue<LoopGroup?>(nil)
