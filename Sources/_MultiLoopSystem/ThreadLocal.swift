#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A pthread thread-local slot holding an object reference.
///
/// `retaining` slots keep a strong reference, released when replaced or when the thread exits;
/// other slots hold an unowned pointer whose lifetime the caller guarantees.
@usableFromInline package final class ThreadLocalSlot<Value: AnyObject>: @unchecked Sendable {
    @usableFromInline @exclusivity(unchecked) var key = pthread_key_t()
    @usableFromInline let retaining: Bool

    @inlinable package init(retaining: Bool) {
        self.retaining = retaining
        let destructor: @convention(c) (UnsafeMutableRawPointer?) -> Void = { raw in
            if let raw { Unmanaged<AnyObject>.fromOpaque(raw).release() }
        }
        let rc = pthread_key_create(&key, retaining ? destructor : nil)
        precondition(rc == 0, "pthread_key_create failed: \(rc)")
    }

    /// The calling thread's value.
    @inlinable package var value: Value? {
        guard let raw = pthread_getspecific(key) else { return nil }
        return Unmanaged<Value>.fromOpaque(raw).takeUnretainedValue()
    }

    /// Sets the calling thread's value.
    @inlinable package func set(_ newValue: Value?) {
        let old = pthread_getspecific(key)
        let raw: UnsafeMutableRawPointer?
        if let newValue {
            raw = retaining ? Unmanaged.passRetained(newValue as AnyObject).toOpaque()
                            : Unmanaged.passUnretained(newValue as AnyObject).toOpaque()
        } else {
            raw = nil
        }
        pthread_setspecific(key, raw)
        if retaining, let old { Unmanaged<AnyObject>.fromOpaque(old).release() }
    }
}
