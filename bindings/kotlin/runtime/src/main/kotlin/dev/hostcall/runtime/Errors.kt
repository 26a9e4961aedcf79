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
 * The library answered the call with an error (RET_ERR): [message] is its
 * text. [shuttingDown] tells a call ended by `close()` apart.
 */
class CallException(val method: String, val text: String) : HostcallException("$method: $text") {
    /** The call was pending when its context was closed. */
    val shuttingDown: Boolean get() = text == "context shutting down"
}

/** The bindings were generated for another interface than the loaded library's. */
class InterfaceMismatchException(message: String) : HostcallException(message)

/** A reply could not be decoded as the declared type. */
class DecodeException(message: String, cause: Throwable? = null) : HostcallException(message) {
    init {
        if (cause != null) initCause(cause)
    }
}
