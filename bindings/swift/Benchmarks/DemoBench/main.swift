// Benchmarks of the Swift binding against the real libdemo, beside a C host
// of the same library in the same run; the figures and how they were taken
// are in docs/benchmarks.md ("Swift bindings"). Measure against a release
// build of both sides:
//
//     cargo build -p demo --release
//     bash scripts/swift.sh bindings/swift target/release examples/demo/include \
//         run -c release DemoBench [--runs 5] [--seconds 1] [--only NAME[,NAME...]] [--smoke]
//
// Each benchmark warms up for `--seconds` (default 1), then runs `--runs`
// times (default 5) for about `--seconds` each, and reports the median and
// every run, and the median CPU time of the whole process per call (every
// thread's; it moves less than wall time on a machine shared with other
// work, but includes the threads' spinning). The C baselines (`cLogin…`)
// run between the Swift ones, so a ratio compares figures taken minutes apart at most. `--smoke` runs each
// once, a few operations (the test command does, on a debug build). Nothing
// here asserts anything about speed; a wrong answer stops the run.

import Demo
import DemoHostBaseline
import Dispatch
import Foundation
import Hostcall

/// Host calls kept in flight by the throughput benchmarks.
let inFlight = 10_000

struct Options {
    var runs = 5
    var seconds = 1.0
    var only: String? = nil
    var smoke = false
}

func parse(_ args: [String]) -> Options {
    var o = Options()
    var i = 0
    func value() -> String {
        i += 1
        guard i < args.count else { fatalError("\(args[i - 1]) needs a value") }
        return args[i]
    }
    while i < args.count {
        switch args[i] {
        case "--runs": o.runs = Int(value()) ?? o.runs
        case "--seconds": o.seconds = Double(value()) ?? o.seconds
        case "--only": o.only = value()
        case "--smoke": o.smoke = true
        default: fatalError("unknown option \(args[i]) (--runs N, --seconds S, --only NAME[,NAME...], --smoke)")
        }
        i += 1
    }
    return o
}

struct Failed: Error, CustomStringConvertible {
    let description: String
}

func check(_ ok: Bool, _ what: @autoclosure () -> String) throws {
    if !ok { throw Failed(description: what()) }
}

/// Starts `n` detached Tasks that each count down once, and waits for all.
func spawnAndJoin(_ n: Int) async {
    let left = Locked<(count: Int, done: CheckedContinuation<Void, Never>?)>((n, nil))
    await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
        left.withLock { $0.done = done }
        for _ in 0..<n {
            Task.detached {
                let finished = left.withLock { l -> CheckedContinuation<Void, Never>? in
                    l.count -= 1
                    return l.count == 0 ? l.done : nil
                }
                finished?.resume()
            }
        }
    }
}

/// What a benchmark runs.
enum Work: Sendable {
    /// One operation of the Swift binding.
    case swift(@Sendable () async throws -> Void)
    /// The C host's `login` one at a time (host_baseline.c): its
    /// `fetch_profile` mode and `spin_us` (-1: the library's default).
    case cHost(mode: demo_host_baseline_mode, spinUs: Int64)
    /// The C host's `login_many` of 10 000 ids, completed in batches by a
    /// worker thread (host_baseline.c).
    case cHostMany
}

/// One benchmark: an operation of `perOp` calls, reported as time per
/// call, or as calls per second when `rate`.
struct Case: Sendable {
    let name: String
    let note: String
    var rate = false
    var perOp = 1
    let work: Work
}

let userIds = (0..<inFlight).map { "u\($0)" }

func seconds(since start: DispatchTime) -> Double {
    Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
}

/// The process's CPU time so far (user and system, every thread), in
/// seconds: on a machine shared with other work, CPU time per call moves
/// less than wall time per call.
func cpuSeconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}

/// What one run measured: wall seconds and CPU seconds (the process's, every
/// thread) per call.
struct Sample {
    var wall: Double
    var cpu: Double
}

/// Runs `c` for about `time` seconds.
func measure(_ c: Case, _ time: Double) async throws -> Sample {
    let cpu0 = cpuSeconds()
    switch c.work {
    case .swift(let op):
        let start = DispatchTime.now()
        var ops = 0
        repeat {
            try await op()
            ops += 1
        } while seconds(since: start) < time
        let calls = Double(ops * c.perOp)
        return Sample(wall: seconds(since: start) / calls, cpu: (cpuSeconds() - cpu0) / calls)
    case .cHost(let mode, let spinUs):
        // Enough logins for about `time`, from a short probe's rate.
        let probe = demo_host_baseline_login_ns(200, Int32(mode.rawValue), spinUs)
        try check(probe > 0, "the C host's login failed")
        let n = max(1, UInt64(time * 1e9 / probe))
        let ns = demo_host_baseline_login_ns(n, Int32(mode.rawValue), spinUs)
        try check(ns > 0, "the C host's login failed")
        return Sample(wall: ns / 1e9, cpu: (cpuSeconds() - cpu0) / Double(n + 200))
    case .cHostMany:
        let probe = demo_host_baseline_login_many_rate(2, UInt32(inFlight))
        try check(probe > 0, "the C host's login_many failed")
        let ops = max(1, UInt64(time * probe / Double(inFlight)))
        let rate = demo_host_baseline_login_many_rate(ops, UInt32(inFlight))
        try check(rate > 0, "the C host's login_many failed")
        return Sample(wall: 1 / rate, cpu: (cpuSeconds() - cpu0) / Double((ops + 2) * UInt64(inFlight)))
    }
}

/// One operation of `c`, untimed (the smoke run).
func once(_ c: Case) async throws {
    switch c.work {
    case .swift(let op): try await op()
    case .cHost(let mode, let spinUs):
        try check(demo_host_baseline_login_ns(3, Int32(mode.rawValue), spinUs) > 0, "the C host's login failed")
    case .cHostMany:
        try check(demo_host_baseline_login_many_rate(1, 100) > 0, "the C host's login_many failed")
    }
}

func format(_ c: Case, _ perCall: Double) -> String {
    if c.rate { return String(format: "%.0f calls/s", 1 / perCall) }
    return String(format: "%.2f µs/call", perCall * 1e6)
}

/// Prints a line at once (print buffers when stdout is a pipe).
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    return (s[(s.count - 1) / 2] + s[s.count / 2]) / 2
}

let options = parse(Array(CommandLine.arguments.dropFirst()))

let demo = try Demo()
let noSpin = try Demo(config: DemoConfig(spin: .zero))
for d in [demo, noSpin] {
    try d.setFetchProfile { id in Profile(userId: id, name: "U1", age: 42) }
    try d.setNotify { _ in }
}

let cases: [Case] = [
    Case(name: "login", note: "login one at a time, fetch_profile in a Swift Task", work: .swift {
        let s = try await demo.login(userId: "u1")
        try check(s.userId == "u1", "login answered \(s)")
    }),
    Case(name: "cLoginWorker", note: "C host: login one at a time, fetch_profile answered from a C worker thread (condvar)",
         work: .cHost(mode: DEMO_HOST_BASELINE_WORKER, spinUs: -1)),
    Case(name: "cLoginInline", note: "C host: fetch_profile answered inline on the library's thread",
         work: .cHost(mode: DEMO_HOST_BASELINE_INLINE, spinUs: -1)),
    Case(name: "loginNoSpin", note: "login one at a time with spin: .zero", work: .swift {
        _ = try await noSpin.login(userId: "u1")
    }),
    Case(name: "cLoginWorkerNoSpin", note: "C host, worker thread, spin_us = 0",
         work: .cHost(mode: DEMO_HOST_BASELINE_WORKER, spinUs: 0)),
    Case(name: "loginMany10k", note: "one loginMany of 10 000 ids per op: 10 000 host calls in flight",
         rate: true, perOp: inFlight, work: .swift {
        let s = try await demo.loginMany(userIds: userIds)
        try check(s.count == inFlight, "loginMany answered \(s.count) sessions")
    }),
    Case(name: "cLoginMany10k", note: "C host: one login_many of 10 000 ids per op, a C worker thread completing in batches",
         rate: true, perOp: inFlight, work: .cHostMany),
    Case(name: "loginMany10kNoSpin", note: "the same with spin_us = 0", rate: true, perOp: inFlight, work: .swift {
        _ = try await noSpin.loginMany(userIds: userIds)
    }),
    Case(name: "login10kTasks", note: "10 000 Tasks in a task group, one login each per op",
         rate: true, perOp: inFlight, work: .swift {
        try await withThrowingTaskGroup(of: Session.self) { group in
            for id in userIds { group.addTask { try await demo.login(userId: id) } }
            var n = 0
            for try await _ in group { n += 1 }
            try check(n == inFlight, "\(n) logins answered")
        }
    }),
    Case(name: "tasks10k", note: "no library: 10 000 Task.detached, each counting down a latch (the Swift runtime's cost of one Task per host call)",
         rate: true, perOp: inFlight, work: .swift {
        await spawnAndJoin(inFlight)
    }),
    Case(name: "add", note: "add one at a time", work: .swift {
        let v = try await demo.add(a: 1, b: 2)
        try check(v == 3, "add answered \(v)")
    }),
    Case(name: "addParallel", note: "add from 2 Tasks at once (time per call)", perOp: 2, work: .swift {
        async let x = demo.add(a: 1, b: 2)
        async let y = demo.add(a: 3, b: 4)
        _ = try await (x, y)
    }),
    Case(name: "pingHost", note: "ping_host awaiting notify in a Swift Task", work: .swift {
        try await demo.pingHost(message: "hi")
    }),
]

// `--only a,b`: those benchmarks, interleaved as in a full run.
let only = options.only.map { Set($0.split(separator: ",").map(String.init)) }
let selected = cases.filter { only?.contains($0.name) ?? true }
if selected.isEmpty { fatalError("no benchmark named \(options.only ?? "")") }

if options.smoke {
    for c in selected {
        try await once(c)
        say("\(c.name): ok")
    }
} else {
    say("Swift binding benchmarks: \(options.runs) runs of \(options.seconds) s after a warm-up of the same; release builds")
    // Interleaved: every benchmark's run k is taken in round k, so the
    // baselines sit beside the figures they are compared with.
    var results: [String: [Sample]] = [:]
    for c in selected { _ = try await measure(c, options.seconds) }
    for _ in 0..<options.runs {
        for c in selected { results[c.name, default: []].append(try await measure(c, options.seconds)) }
    }
    for c in selected {
        let runs = results[c.name]!
        let each = runs.map { format(c, $0.wall) }.joined(separator: ", ")
        let cpu = String(format: "%.2f", median(runs.map { $0.cpu }) * 1e6)
        say("\(c.name): \(format(c, median(runs.map { $0.wall }))) (median; runs: \(each); CPU \(cpu) µs/call) — \(c.note)")
    }
}
demo.close()
noSpin.close()
