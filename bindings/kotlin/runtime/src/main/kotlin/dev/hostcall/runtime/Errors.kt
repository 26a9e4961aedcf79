package dev.hostcall.runtime

/** Status codes of the C ABI (stable, never renumbered). */
object Status {
    const val OK = 0
    const val NULL_ARG = -1
    const val INVALID_ARG = -2
    const val INVALID_CONTEXT = -3
    const val UNKNOWN_TOKEN = -4
    const val UNKNOWN_METHOD = -5
    const val SHUTTING_DOWN = -6
    const val OVERLOADED = -7
    const val PANIC = -8

    /** The C macro name of a status code. */
    fun name(code: Int): String = when (code) {
        OK -> "HC_OK"
        NULL_ARG -> "HC_ERR_NULL_ARG"
        INVALID_ARG -> "HC_ERR_INVALID_ARG"
        INVALID_CONTEXT -> "HC_ERR_INVALID_CONTEXT"
        UNKNOWN_TOKEN -> "HC_ERR_UNKNOWN_TOKEN"
        UNKNOWN_METHOD -> "HC_ERR_UNKNOWN_METHOD"
        SHUTTING_DOWN -> "HC_ERR_SHUTTING_DOWN"
        OVERLOADED -> "HC_ERR_OVERLOADED"
        PANIC -> "HC_ERR_PANIC"
        else -> "status $code"
    }

    private val byName = (-8..0).associateBy { name(it) }

    /** The status a last-error text names in its prefix (`HC_ERR_INVALID_ARG: …`), else [INVALID_ARG]. */
    fun of(detail: String): Int = byName[detail.substringBefore(':')] ?: INVALID_ARG
}

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
