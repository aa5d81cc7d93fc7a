// The `multiloop` command. For now one subcommand: `demo`, threads handing work to a loop.
// (The stress tool comes with its own issue.)
#if canImport(Glibc)
import Glibc
#endif

func fail(_ message: String) -> Never {
    let text = "multiloop: \(message)\n\(Demo.usage)\n"
    _ = text.withCString { write(2, $0, strlen($0)) }
    exit(2)
}

let arguments = Array(CommandLine.arguments.dropFirst())
switch arguments.first {
case nil, "demo":
    var producers = 4
    if arguments.count > 1 {
        guard arguments.count == 2, let value = Int(arguments[1]), (1...64).contains(value) else {
            fail("demo takes one optional argument: the number of producer threads (1 to 64)")
        }
        producers = value
    }
    exit(Demo.run(producers: producers, callbacksPerProducer: 1_000_000 / producers))
case "-h", "--help", "help":
    print(Demo.usage)
    exit(0)
default:
    fail("unknown command '\(arguments[0])'")
}
