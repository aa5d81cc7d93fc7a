#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The local wall-clock time as Python's `time.strftime('%X')` prints it: the C locale's time
/// representation, `HH:MM:SS` (neither Swift nor Python sets `LC_TIME` from the environment).
func wallClockTime() -> String {
    tzset()
    var now = time(nil)
    var parts = tm()
    guard localtime_r(&now, &parts) != nil else { return "??:??:??" }
    var buffer = [CChar](repeating: 0, count: 64)
    let count = strftime(&buffer, buffer.count, "%X", &parts)
    return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
