/// A value behind a pthread mutex: any thread, one at a time.
@usableFromInline package final class LockedValue<Value>: @unchecked Sendable {
    @usableFromInline let lock = PThreadMutex()
    @usableFromInline var storage: Value

    @inlinable package init(_ value: Value) { self.storage = value }

    @inlinable package func withLock<T>(_ body: (inout Value) throws -> T) rethrows -> T {
        try lock.withLock { try body(&storage) }
    }

    /// A copy of the value, read under the lock.
    @inlinable package var value: Value { withLock { $0 } }
}
