// `multiloop-echo-client`: bad usage exits with 2, as `multiloop-scaling` does (ArgumentParser's
// own default is 64); a failed run (no connection, a lost connection, a wrong byte) with 1.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ArgumentParser

do {
    var command = try EchoClientCommand.parseAsRoot()
    try command.run()
    exit(0)
} catch let code as ExitCode {
    exit(code.rawValue)
} catch {
    if EchoClientCommand.exitCode(for: error) == .success {
        print(EchoClientCommand.fullMessage(for: error))
        exit(0)
    }
    printError(EchoClientCommand.message(for: error) + "\n" + "Usage: " + EchoClientCommand.usageString()
        + "\n  See 'multiloop-echo-client --help' for more information.")
    exit(2)
}
