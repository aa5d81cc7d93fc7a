/// A value behind a pthread mutex: any thread, one at a time.
package final class LockedValue<Value>: @unchecked Sendable {
    private let lock = PThreadMutex()
    private var value: Value

    package init(_ value: Value) { self.value = value }

    package func withLock<T>(_ body: (inout Value) throws -> T) rethrows -> T {
        try lock.withLock { try body(&value) }
    }
}
