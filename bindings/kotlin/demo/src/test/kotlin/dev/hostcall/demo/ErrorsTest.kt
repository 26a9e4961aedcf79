package dev.hostcall.demo

import dev.hostcall.runtime.CborException
import dev.hostcall.runtime.CborReader
import dev.hostcall.runtime.CborWriter
import dev.hostcall.runtime.DecodeException
import dev.hostcall.runtime.Outcome
import java.util.concurrent.atomic.AtomicInteger
import kotlin.time.Duration.Companion.milliseconds
import kotlinx.coroutines.awaitCancellation
import org.junit.jupiter.api.Assertions.assertArrayEquals
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNotEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows

/**
 * The library's typed errors: `sign_in` fails with a `SignInError`
 * (`SignInException` here), awaiting the host fn `find_account`, which
 * fails with an `AccountError` (`AccountException`) that Rust matches on.
 */
class ErrorsTest : DemoTest() {
    private val accountErrors = listOf(
        AccountException.NotFound("u-missing"),
        AccountException.Locked(1_700_000_000uL),
        AccountException.Locked(ULong.MAX_VALUE),
        AccountException.Suspended("fraud", 17uL),
        AccountException.Suspended("", 0uL),
    )

    private val signInErrors = listOf(
        SignInException.EmptyUserId(),
        SignInException.NotFound("u-missing"),
        SignInException.Locked(ULong.MAX_VALUE),
        SignInException.Suspended("fraud", 17uL),
        SignInException.Unavailable("db down"),
    )

    /** What sign_in makes of each AccountError: the variant of the same name. */
    private fun signInErrorOf(e: AccountException): SignInException = when (e) {
        is AccountException.NotFound -> SignInException.NotFound(e.userId)
        is AccountException.Locked -> SignInException.Locked(e.untilUnixS)
        is AccountException.Suspended -> SignInException.Suspended(e.v1, e.v2)
    }

    /**
     * Every AccountError variant a host fn throws reaches Rust as that
     * variant (sign_in maps it case by case), and comes back as the
     * SignInError variant of the same name, fields and all.
     */
    @Test
    fun `each typed error variant round-trips both ways`() = bounded {
        Demo.open().use { demo ->
            val byId = accountErrors.withIndex().associate { (i, e) -> "id-$i" to e }
            val asked = AtomicInteger()
            demo.findAccount { userId ->
                asked.incrementAndGet()
                throw byId[userId] ?: return@findAccount profileOf(userId)
            }
            for ((id, thrown) in byId) {
                val e = thrownBy<SignInException> { demo.signIn(id) }
                assertEquals(signInErrorOf(thrown), e, "what $thrown became")
            }
            assertEquals(sessionOf("ok"), demo.signIn("ok"))

            // EmptyUserId: the library's own, the host not asked.
            val before = asked.get()
            val empty = thrownBy<SignInException.EmptyUserId> { demo.signIn("") }
            assertEquals(SignInException.EmptyUserId(), empty)
            assertEquals(before, asked.get(), "the host was asked for an empty id")
        }
    }

    /** A host fn failing otherwise: sign_in says Unavailable, with the host's text. */
    @Test
    fun `any other failure of the host is Unavailable with its text`() = bounded {
        Demo.open(DemoConfig(hostCallTimeout = 50.milliseconds)).use { demo ->
            // Not registered yet.
            val unregistered = thrownBy<SignInException.Unavailable> { demo.signIn("u1") }
            assertTrue(unregistered.v1.contains("not registered"), unregistered.v1)

            demo.findAccount { userId ->
                when (userId) {
                    "down" -> throw IllegalStateException("db down")
                    "slow" -> awaitCancellation()
                    // A typed error of another type is no AccountError: its message goes as text.
                    else -> throw SignInException.NotFound(userId)
                }
            }
            val down = thrownBy<SignInException.Unavailable> { demo.signIn("down") }
            assertTrue(down.v1.contains("db down"), down.v1)
            assertEquals("unavailable: ${down.v1}", down.message)
            val slow = thrownBy<SignInException.Unavailable> { demo.signIn("slow") }
            assertTrue(slow.v1.contains("timed out"), slow.v1)
            val other = thrownBy<SignInException.Unavailable> { demo.signIn("x") }
            assertTrue(other.v1.contains("not found: userId=x"), other.v1)
        }
    }

    /** The host completing with a typed payload Rust cannot read: no crash, Unavailable. */
    @Test
    fun `a malformed typed payload from the host is refused, not a crash`() = bounded {
        Demo.open().use { demo ->
            val garbage = listOf(
                byteArrayOf(0xff.toByte()), // not CBOR
                CborWriter().text("NoSuchVariant").bytes(),
                CborWriter().map(1).text("Locked").text("not a number").bytes(),
            )
            for (payload in garbage) {
                demo.runtime.hostFn(2, { payload }, { DemoNative.registerHostFn(demo.handle, 2, it) }) { throw IllegalStateException("typed") }
                val e = thrownBy<SignInException.Unavailable> { demo.signIn("u1") }
                assertTrue(e.v1.isNotEmpty(), "Unavailable says why")
            }
            demo.findAccount { profileOf(it) }
            assertEquals(sessionOf("u2"), demo.signIn("u2"))
        }
    }

    /** The wire forms: serde's externally tagged enum, byte for byte. */
    @Test
    fun `the codec writes the library's wire form and reads it back`() {
        fun bytes(e: SignInException) = CborWriter().writeSignInException(e).bytes()
        assertArrayEquals(CborWriter().text("EmptyUserId").bytes(), bytes(SignInException.EmptyUserId()))
        assertArrayEquals(CborWriter().map(1).text("Unavailable").text("x").bytes(), bytes(SignInException.Unavailable("x")))
        assertArrayEquals(
            CborWriter().map(1).text("Suspended").array(2).text("r").uint(17uL).bytes(),
            bytes(SignInException.Suspended("r", 17uL)),
        )
        assertArrayEquals(
            CborWriter().map(1).text("NotFound").map(1).text("user_id").text("u1").bytes(),
            bytes(SignInException.NotFound("u1")),
        )
        for (e in signInErrors) {
            assertEquals(e, CborReader(bytes(e)).readSignInException())
        }
        for (e in accountErrors) {
            assertEquals(e, CborReader(CborWriter().writeAccountException(e).bytes()).readAccountException())
        }
        // A unit variant in map form (`{"EmptyUserId": null}`) reads too; unknown fields are skipped.
        assertEquals(SignInException.EmptyUserId(), CborReader(CborWriter().map(1).text("EmptyUserId").nil().bytes()).readSignInException())
        val extra = CborWriter().map(1).text("NotFound").map(2).text("other").uint(1uL).text("user_id").text("u").bytes()
        assertEquals(SignInException.NotFound("u"), CborReader(extra).readSignInException())
    }

    @Test
    fun `malformed typed errors are a clear DecodeException`() {
        val cases = listOf(
            "truncated" to ByteArray(0),
            "unknown variant 'Nope'" to CborWriter().text("Nope").bytes(),
            "unknown variant 'Nope'" to CborWriter().map(1).text("Nope").nil().bytes(),
            "missing field 'user_id'" to CborWriter().map(1).text("NotFound").map(0).bytes(),
            "expected 2 fields" to CborWriter().map(1).text("Suspended").array(1).text("r").bytes(),
            "expected a map" to CborWriter().uint(3uL).bytes(),
            "expected a variant, a map of one entry" to CborWriter().map(2).text("Unavailable").text("x").text("EmptyUserId").nil().bytes(),
            "a unit variant carries no value" to CborWriter().map(1).text("EmptyUserId").uint(1uL).bytes(),
            "expected an unsigned integer" to CborWriter().map(1).text("Locked").map(1).text("until_unix_s").text("soon").bytes(),
            "trailing bytes" to (CborWriter().text("EmptyUserId").bytes() + byteArrayOf(0)),
        )
        for ((what, payload) in cases) {
            val e = typedError("sign_in", "SignInException", payload) { readSignInException() }
            assertTrue(e is DecodeException, "$what: $e")
            assertTrue(e.message!!.startsWith("sign_in: the SignInException it failed with did not decode: "), e.message)
            assertTrue(e.message!!.contains(what), "'${e.message}' does not say '$what'")
            assertTrue(e.cause is CborException, "$what: cause ${e.cause}")
        }
        assertThrows<CborException> { CborReader(CborWriter().text("Nope").bytes()).readAccountException() }
        assertEquals(AccountException.Locked(5uL), typedError("x", "AccountException", CborWriter().writeAccountException(AccountException.Locked(5uL)).bytes()) { readAccountException() })
    }

    @Test
    fun `typed exceptions compare, hash and print their fields`() {
        assertEquals(SignInException.NotFound("a"), SignInException.NotFound("a"))
        assertEquals(SignInException.NotFound("a").hashCode(), SignInException.NotFound("a").hashCode())
        assertNotEquals(SignInException.NotFound("a"), SignInException.NotFound("b"))
        assertFalse((SignInException.NotFound("a") as Any) == AccountException.NotFound("a"))
        assertEquals(SignInException.EmptyUserId(), SignInException.EmptyUserId())
        assertEquals("SignInException.NotFound(userId=a)", SignInException.NotFound("a").toString())
        assertEquals("SignInException.Suspended(v1=r, v2=17)", SignInException.Suspended("r", 17uL).toString())
        assertEquals("SignInException.EmptyUserId", SignInException.EmptyUserId().toString())
        assertEquals("not found: userId=a", SignInException.NotFound("a").message)
        assertEquals("locked: untilUnixS=18446744073709551615", SignInException.Locked(ULong.MAX_VALUE).message)
        assertEquals("suspended: v1=r, v2=17", SignInException.Suspended("r", 17uL).message)
        assertEquals("empty user id", SignInException.EmptyUserId().message)
        assertEquals("unavailable: db down", SignInException.Unavailable("db down").message)
        // The catch pattern: a sealed class, so `when` knows every variant.
        val said = signInErrors.map { e ->
            when (e) {
                is SignInException.EmptyUserId -> "empty"
                is SignInException.NotFound -> "404 ${e.userId}"
                is SignInException.Locked -> "423 until ${e.untilUnixS}"
                is SignInException.Suspended -> "403 ${e.v1}"
                is SignInException.Unavailable -> "503"
            }
        }
        assertEquals(listOf("empty", "404 u-missing", "423 until ${ULong.MAX_VALUE}", "403 fraud", "503"), said)
        assertEquals(9, Outcome.ERR_TYPED)
    }
}
