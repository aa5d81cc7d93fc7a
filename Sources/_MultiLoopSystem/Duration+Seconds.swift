extension Duration {
    /// This duration in seconds, as a `Double`: what every `Duration` overload of the public API
    /// passes to its seconds-as-`Double` form (docs/api-guidelines.md, "Delays and timeouts").
    /// The one conversion, so that both spellings of a delay mean exactly the same. Exact to the
    /// nanosecond for any delay under about 100 days (a `Double` keeps 53 bits); never NaN or
    /// infinite. `package`: the layers above the loop use it too.
    package var inSeconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) * 1e-18
    }
}
