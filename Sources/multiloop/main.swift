// The `multiloop` command. For now one subcommand: `demo`, threads handing work to a loop.
// (The stress tool comes with its own issue.)
#if canImport(Glibc)
import Glibc
#endif

let arguments = Array(CommandLine.arguments.dropFirst())
switch arguments.first {
case nil, "demo":
    exit(Demo.run(producers: Int(arguments.dropFirst().first ?? "4") ?? 4, callbacksPerProducer: 1_000_000 / (Int(arguments.dropFirst().first ?? "4") ?? 4)))
case "-h", "--help", "help":
    print(Demo.usage)
    exit(0)
default:
    let message = "multiloop: unknown command '\(arguments[0])'\n\(Demo.usage)\n"
    _ = message.withCString { write(2, $0, strlen($0)) }
    exit(2)
}
