// `multiloop-echo-client`: the echo benchmark's load generator (docs/benchmarks.md, "Echo server").

import ArgumentParser
import BenchSupport
import CEchoSystem
import Histogram

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

struct EchoClientCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "multiloop-echo-client",
        abstract: "Load generator for echo servers: N connections, each a closed loop of checked round trips.",
        discussion: """
            Opens --connections TCP connections to --host:--port (TCP_NODELAY), spread round-robin over
            --threads threads, each an epoll loop. Every connection sends a message of --size bytes, waits
            until all of them have come back, compares them with what it sent (a per-connection
            pseudo-random pattern, shifted by one byte per request), records the round trip, and sends
            the next: one request in flight per connection. Requests completing in the first --warmup
            seconds are not counted; the next --duration seconds are measured.

            Prints one JSON line on standard output:
              requests, requests_per_sec, bytes (echoed bytes of the measured requests), p50_us, p99_us,
              max_us, mean_us (round-trip latency, HdrHistogram, 3 significant digits), errors
              (= mismatches + lost_connections), mismatches (requests whose reply differed from the
              request, warm-up included), lost_connections, client_cpu_s and client_cpu_percent (this
              process's user + system CPU time during the measured seconds, and as a share of one CPU),
              and the parameters.
            Exit status: 0 when the run had no errors and completed requests; 1 otherwise (the JSON line
            is still printed when the connections could be opened); 2 on bad usage.
            """)

    @Option(name: .long, help: "Server address (a name or an IPv4/IPv6 literal).")
    var host = "127.0.0.1"

    @Option(name: .long, help: "Server port.")
    var port: Int

    @Option(name: .long, help: "Connections, each with one request in flight.")
    var connections = 10

    @Option(name: .long, help: "Message size in bytes.")
    var size = 1024

    @Option(name: .long, help: "Seconds measured (after the warm-up).")
    var duration: Double = 5

    @Option(name: .long, help: "Seconds of warm-up before measuring.")
    var warmup: Double = 1

    @Option(name: .long, help: "Threads (epoll loops) the connections are spread over.")
    var threads = 1

    mutating func validate() throws {
        guard (1...65535).contains(port) else { throw ValidationError("--port must be 1 to 65535, not \(port)") }
        guard (1...100_000).contains(connections) else {
            throw ValidationError("--connections must be 1 to 100000, not \(connections)")
        }
        guard (1...(64 << 20)).contains(size) else { throw ValidationError("--size must be 1 byte to 64 MiB, not \(size)") }
        guard duration > 0, duration.isFinite else { throw ValidationError("--duration must be positive, not \(duration)") }
        guard warmup >= 0, warmup.isFinite else { throw ValidationError("--warmup must be 0 or more, not \(warmup)") }
        guard (1...1024).contains(threads) else { throw ValidationError("--threads must be 1 to 1024, not \(threads)") }
    }

    func run() throws {
        let threadCount = min(threads, connections)
        var sockets: [Int32] = []
        for _ in 0..<connections {
            do {
                sockets.append(try connectSocket(host: host, port: port))
            } catch {
                sockets.forEach { _ = close($0) }
                printError("multiloop-echo-client: cannot connect to \(host):\(port): \(error)")
                throw ExitCode.failure
            }
        }
        var shares = Array(repeating: [EchoConnection](), count: threadCount)
        for (index, fd) in sockets.enumerated() {
            shares[index % threadCount].append(EchoConnection(fd: fd, index: index, size: size))
        }

        let start = monotonicNanoseconds()
        let window = RunWindow(measureStart: start + UInt64(warmup * 1e9),
                               measureEnd: start + UInt64(warmup * 1e9) + UInt64(duration * 1e9))
        let workers = shares.map { EchoWorker(connections: $0, window: window) }
        let threads = workers.map { worker in JoinableThread { worker.run() } }
        sleepUntil(window.measureStart)
        let cpuAtStart = processCPUSeconds()
        sleepUntil(window.measureEnd)
        let cpuSeconds = processCPUSeconds() - cpuAtStart
        threads.forEach { $0.join() }

        var histogram = workers[0].histogram
        for worker in workers.dropFirst() { histogram.add(worker.histogram) }
        let requests = workers.reduce(0) { $0 + $1.requests }
        let mismatches = workers.reduce(0) { $0 + $1.mismatches }
        let lost = workers.reduce(0) { $0 + $1.lostConnections }
        if let why = workers.lazy.compactMap(\.firstLoss).first {
            printError("multiloop-echo-client: \(lost) connection(s) lost; the first: \(why)")
        }
        if mismatches > 0 { printError("multiloop-echo-client: \(mismatches) reply(ies) differed from the request") }
        let micros = { (ns: UInt64) -> Double in (Double(ns) / 100).rounded() / 10 }
        let fields: [(String, String)] = [
            ("host", "\"\(host)\""), ("port", "\(port)"), ("connections", "\(connections)"),
            ("size", "\(size)"), ("threads", "\(threadCount)"), ("warmup_s", "\(warmup)"), ("duration_s", "\(duration)"),
            ("requests", "\(requests)"),
            ("requests_per_sec", "\((Double(requests) / duration * 10).rounded() / 10)"),
            ("bytes", "\(workers.reduce(0) { $0 + $1.bytes })"),
            ("p50_us", "\(requests > 0 ? micros(histogram.valueAtPercentile(50)) : 0)"),
            ("p99_us", "\(requests > 0 ? micros(histogram.valueAtPercentile(99)) : 0)"),
            ("max_us", "\(requests > 0 ? micros(histogram.max) : 0)"),
            ("mean_us", "\(requests > 0 ? (histogram.mean / 100).rounded() / 10 : 0)"),
            ("errors", "\(mismatches + lost)"), ("mismatches", "\(mismatches)"), ("lost_connections", "\(lost)"),
            ("client_cpu_s", "\((cpuSeconds * 1000).rounded() / 1000)"),
            ("client_cpu_percent", "\((cpuSeconds / duration * 1000).rounded() / 10)"),
        ]
        print("{" + fields.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ") + "}")
        if requests == 0 || mismatches + lost > 0 { throw ExitCode.failure }
    }
}

/// User + system CPU time of the whole process (every thread), in seconds.
func processCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    let seconds = { (t: timeval) in Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
    return seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// Sleeps until CLOCK_MONOTONIC reads `deadline` (ns).
func sleepUntil(_ deadline: UInt64) {
    var at = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
    while clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, nil) == EINTR {}
}

/// One line to standard error, unbuffered.
func printError(_ line: String) {
    var text = line + "\n"
    text.withUTF8 { bytes in _ = write(STDERR_FILENO, bytes.baseAddress, bytes.count) }
}
