// `multiloop-scaling`: bad usage exits with 2, as `multiloop` does (ArgumentParser's own default
// is 64); a failed run (a wrong count or a stall) with 1.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ArgumentParser

do {
    var command = try ScalingCommand.parseAsRoot()
    try command.run()
    exit(0)
} catch let code as ExitCode {
    exit(code.rawValue)
} catch {
    if ScalingCommand.exitCode(for: error) == .success {
        print(ScalingCommand.fullMessage(for: error))
        exit(0)
    }
    printError(ScalingCommand.message(for: error) + "\n" + "Usage: " + ScalingCommand.usageString() + "\n  See 'multiloop-scaling --help' for more information.")
    exit(2)
}
