package dev.hostcall.runtime

import kotlin.time.Duration
import kotlin.time.Duration.Companion.microseconds
import kotlin.time.Duration.Companion.milliseconds

/**
 * Durations of a context's settings in the library's units. The library
 * counts host call timeouts in whole milliseconds, where 0 means "none", so
 * a positive timeout is rounded up: 500 µs becomes 1 ms, never "none".
 */
object ConfigUnits {
    /** `host_call_timeout_ms`: [Duration.INFINITE] is 0 (none); otherwise positive, rounded up. */
    fun timeoutMillis(timeout: Duration): ULong {
        if (timeout == Duration.INFINITE) return 0u
        require(timeout.isPositive()) { "hostCallTimeout must be positive (or Duration.INFINITE for none), not $timeout" }
        val whole = timeout.inWholeMilliseconds
        return (if (whole.milliseconds < timeout) whole + 1 else whole).toULong()
    }

    /** `handshake_timeout_ms`: positive and finite, rounded up (0 would mean the library's default; the library checks the upper bound). */
    fun handshakeMillis(timeout: Duration): ULong {
        require(timeout.isPositive() && timeout.isFinite()) { "handshakeTimeout must be positive and finite, not $timeout" }
        val whole = timeout.inWholeMilliseconds
        return (if (whole.milliseconds < timeout) whole + 1 else whole).toULong()
    }

    /** `spin_us`: zero or positive, rounded up (the library checks the upper bound). */
    fun spinMicros(spin: Duration): ULong {
        require(!spin.isNegative() && spin.isFinite()) { "spin must be zero or positive and finite, not $spin" }
        val whole = spin.inWholeMicroseconds
        return (if (whole.microseconds < spin) whole + 1 else whole).toULong()
    }
}
