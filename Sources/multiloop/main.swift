// The `multiloop` command: `demo`, threads handing work to a loop; `examples`, the asyncio
// tutorial's examples in Swift. (The stress tool comes with its own issue.)
#if canImport(Glibc)
import Glibc
#endif
@_spi(Examples) import MultiLoop

let usage = Demo.usage + "\n" + TutorialExamples.usage

func writeToStandardError(_ text: String) {
    let line = text.hasSuffix("\n") ? text : text + "\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
}

func fail(_ message: String) -> Never {
    writeToStandardError("multiloop: \(message)\n\(usage)")
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
case "examples":
    exit(TutorialExamples.command(arguments: Array(arguments.dropFirst()),
                                  output: { print($0) },
                                  errorOutput: writeToStandardError))
case "-h", "--help", "help":
    print(usage)
    exit(0)
default:
    fail("unknown command '\(arguments[0])'")
}
