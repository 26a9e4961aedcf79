// How a config option's `Duration` becomes the whole number of
// milliseconds or microseconds its key takes. Hand-written; the generated
// `<Lib>Config` calls it for each duration option.

/// Converts durations to a config key's units, rounded up (a timeout of
/// 1.5 ms waits at least 1.5 ms), refusing what the key cannot mean.
public enum ConfigUnits {
    /// Whole milliseconds; `positive`: zero is refused too.
    public static func millis(_ value: Duration, _ option: String, positive: Bool) throws -> UInt64 {
        try whole(value, option, positive: positive, attosecondsPerUnit: 1_000_000_000_000_000, unitsPerSecond: 1_000)
    }

    /// Whole microseconds; `positive`: zero is refused too.
    public static func micros(_ value: Duration, _ option: String, positive: Bool) throws -> UInt64 {
        try whole(value, option, positive: positive, attosecondsPerUnit: 1_000_000_000_000, unitsPerSecond: 1_000_000)
    }

    private static func whole(
        _ value: Duration, _ option: String, positive: Bool, attosecondsPerUnit: Int64, unitsPerSecond: UInt64
    ) throws -> UInt64 {
        let (seconds, attoseconds) = value.components
        guard seconds >= 0 && attoseconds >= 0 && (!positive || value > .zero) else {
            let what = positive ? "positive" : "zero or positive"
            throw HostcallError.refused(status: Status.invalidArg, detail: "\(option) must be \(what), not \(value)")
        }
        let fraction = UInt64((attoseconds + attosecondsPerUnit - 1) / attosecondsPerUnit)
        let (inUnits, overflow) = UInt64(seconds).multipliedReportingOverflow(by: unitsPerSecond)
        let (total, overflow2) = inUnits.addingReportingOverflow(fraction)
        guard !overflow && !overflow2 else {
            throw HostcallError.refused(status: Status.invalidArg, detail: "\(option) is too long: \(value)")
        }
        return total
    }
}
