import MultiLoopTestSupport

extension SocketsScenario {
    /// Set by the tests, which run the scenario in a process where other tests open and close
    /// descriptors at the same time: the process-wide count then says nothing about this
    /// scenario, and is measured (the details "fds before" and "fds after") but not checked. The
    /// sockets the scenario saw and its loops are checked exactly either way. `multiloop stress`
    /// has its process to itself and never sets it.
    static let processIsShared = StressFlag()
}
