/// A value behind a pthread mutex: any thread, one at a time.
@usableFromInline package final class LockedValue<Value>: @unchecked Sendable {
    @usableFromInline let lock = PThreadMutex()
    @usableFromInline var value: Value

    @inlinable package init(_ value: Value) { self.value = value }

    @inlinable package func withLock<T>(_ body: (inout Value) throws -> T) rethrows -> T {
        try lock.withLock { try body(&value) }
    }
}
