// MultiLoopTestSupport (Sources/MultiLoopTestSupport: the thread wrapper, the locked box, the
// counters and the random generator that every test target shares), visible in every file of
// this target without an import line of its own.
@_exported import MultiLoopTestSupport
