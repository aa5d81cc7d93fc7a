// The `multiloop` command: `stress`, the stress test; `demo`, threads handing work to a loop;
// `examples`, the asyncio tutorial's examples in Swift.
#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser

func writeToStandardError(_ text: String) {
    let line = text.hasSuffix("\n") ? text : text + "\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
}

// Bad usage exits with 2 (ArgumentParser's own default would be 64), a failed check with 1.
do {
    var command = try MultiLoopCommand.parseAsRoot()
    try command.run()
    exit(0)
} catch let code as ExitCode {
    exit(code.rawValue)
} catch {
    if MultiLoopCommand.exitCode(for: error) == .success {
        print(MultiLoopCommand.fullMessage(for: error))
        exit(0)
    }
    writeToStandardError(MultiLoopCommand.message(for: error) + "\n" + MultiLoopCommand.usageString(for: error))
    exit(2)
}
