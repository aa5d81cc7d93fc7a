/// SplitMix64: small, fast, and the same sequence for the same seed everywhere.
package struct StressRandom {
    private var state: UInt64

    package init(seed: UInt64) { state = seed }

    package mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in 0..<bound (bound > 0).
    package mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }

    /// Uniform in 0..<1.
    package mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }

    /// A generator for stream `stream` of this seed (one per thread).
    package static func stream(_ seed: UInt64, _ stream: Int) -> StressRandom {
        var mixer = StressRandom(seed: seed ^ (UInt64(stream) &* 0xA076_1D64_78BD_642F))
        return StressRandom(seed: mixer.next())
    }
}
