package dev.hostcall.runtime

// The status codes (object Status) are generated from the ABI list into
// Status.kt (hostcall-gen abi kotlin).

/** Errors of hostcall bindings. */
sealed class HostcallException(message: String) : RuntimeException(message)

/**
 * An entry point refused the call (a status other than HC_OK); nothing was
 * done. [closed] tells a call on a closed context apart.
 */
class StatusException(val operation: String, val code: Int, val detail: String) :
    HostcallException(if (detail.isEmpty()) "$operation: ${Status.name(code)}" else "$operation: $detail") {
    /** The context was closed (HC_ERR_INVALID_CONTEXT). */
    val closed: Boolean get() = code == Status.INVALID_CONTEXT
}

/**
 * The library answered the call with a failure: [code] is the reply's
 * outcome code ([Outcome]), [text] its text, the message
 * `"<method>: <text>"`. Which member of this sealed class is thrown
 * depends on the code alone, never on the text:
 *
 * | member | outcome code | when |
 * | --- | --- | --- |
 * | [LibraryError] | `RET_ERR` | the library's own error: a handler's `Err` (a host fn's exception it carried through as text included) |
 * | [ShuttingDown] | `RET_SHUTTING_DOWN` | the call was pending when its context was closed |
 * | [Overloaded] | `RET_OVERLOADED` | a host call the handler passed through was refused: `max_in_flight` reached |
 * | [TimedOut] | `RET_TIMED_OUT` | a host call the handler passed through timed out |
 * | [Cancelled] | `RET_CANCELLED` | the request was withdrawn before it finished (its caller's coroutine was cancelled) |
 * | [NotRegistered] | `RET_NOT_REGISTERED` | a host call the handler passed through named a host fn nobody registered |
 * | [InvalidArgument] | `RET_INVALID_ARG` | the arguments did not decode as the handler's types |
 * | [Panicked] | `RET_PANIC` | the handler panicked (the context goes on) |
 * | [ProcessDied] | `RET_PROCESS_DIED` | isolated context: the helper process running the library died before the call finished |
 * | [ReplyLost] | none | the reply could not be copied into the JVM (out of memory) |
 * | [Other] | any other | a code this binding does not know (a newer library), or `RET_ERR_TYPED` from a handler that declares no error type (one that does throws its own sealed exception class instead) |
 */
sealed class CallException(val method: String, val text: String, val code: Int) : HostcallException("$method: $text") {
    /** The call was pending when its context was closed ([ShuttingDown]). */
    val shuttingDown: Boolean get() = this is ShuttingDown

    /** `RET_ERR`: the library's own error (a handler's `Err`). */
    class LibraryError(method: String, text: String) : CallException(method, text, Outcome.ERR)

    /** `RET_SHUTTING_DOWN`: the call was pending when its context was closed. */
    class ShuttingDown(method: String, text: String) : CallException(method, text, Outcome.SHUTTING_DOWN)

    /** `RET_OVERLOADED`: a host call was refused, `max_in_flight` calls being outstanding. */
    class Overloaded(method: String, text: String) : CallException(method, text, Outcome.OVERLOADED)

    /** `RET_TIMED_OUT`: a host call timed out (`hostCallTimeout`). */
    class TimedOut(method: String, text: String) : CallException(method, text, Outcome.TIMED_OUT)

    /** `RET_CANCELLED`: the request was cancelled before it finished. */
    class Cancelled(method: String, text: String) : CallException(method, text, Outcome.CANCELLED)

    /** `RET_NOT_REGISTERED`: a host fn the call needed is not registered. */
    class NotRegistered(method: String, text: String) : CallException(method, text, Outcome.NOT_REGISTERED)

    /** `RET_INVALID_ARG`: the arguments did not decode as the handler's types. */
    class InvalidArgument(method: String, text: String) : CallException(method, text, Outcome.INVALID_ARG)

    /** `RET_PANIC`: the handler panicked; the context goes on. */
    class Panicked(method: String, text: String) : CallException(method, text, Outcome.PANIC)

    /**
     * `RET_PROCESS_DIED`: the context is isolated and the helper process
     * running the library died before the call finished ([text] says how:
     * `library process died: signal 11 (SIGSEGV)`). Every call pending then
     * fails so; the helper is started again for later calls unless the
     * config's `restart` is false.
     */
    class ProcessDied(method: String, text: String) : CallException(method, text, Outcome.PROCESS_DIED)

    /** The reply could not be copied into the JVM (out of memory): what the library answered is unknown. [code] is -1. */
    class ReplyLost(method: String, text: String) : CallException(method, text, REPLY_LOST)

    /** A failure code this binding does not know (a newer library), or `RET_ERR_TYPED`; [code] says which. */
    class Other(method: String, code: Int, text: String) : CallException(method, text, code)

    companion object {
        /** The [code] of [ReplyLost]: no outcome code, all of which are 0 or above. */
        const val REPLY_LOST = -1

        /** The exception of a failed reply of [method]: [code] is its outcome code (any but `RET_OK`) or [REPLY_LOST]. */
        fun of(method: String, code: Int, text: String): CallException {
            require(Outcome.isError(code)) { "$method: RET_OK is not a failure" }
            return when (code) {
                Outcome.ERR -> LibraryError(method, text)
                Outcome.SHUTTING_DOWN -> ShuttingDown(method, text)
                Outcome.OVERLOADED -> Overloaded(method, text)
                Outcome.TIMED_OUT -> TimedOut(method, text)
                Outcome.CANCELLED -> Cancelled(method, text)
                Outcome.NOT_REGISTERED -> NotRegistered(method, text)
                Outcome.INVALID_ARG -> InvalidArgument(method, text)
                Outcome.PANIC -> Panicked(method, text)
                Outcome.PROCESS_DIED -> ProcessDied(method, text)
                REPLY_LOST -> ReplyLost(method, text)
                else -> Other(method, code, text)
            }
        }
    }
}

/** The bindings were generated for another interface than the loaded library's. */
class InterfaceMismatchException(message: String) : HostcallException(message)

/** A reply could not be decoded as the declared type. */
class DecodeException(message: String, cause: Throwable? = null) : HostcallException(message) {
    init {
        if (cause != null) initCause(cause)
    }
}
