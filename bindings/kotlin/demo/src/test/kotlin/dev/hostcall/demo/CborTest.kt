package dev.hostcall.demo

import dev.hostcall.runtime.CborException
import dev.hostcall.runtime.CborReader
import dev.hostcall.runtime.CborWriter
import dev.hostcall.runtime.Keys
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertThrows
import org.junit.jupiter.api.Test

/** The CBOR codec the generated records use, without the library. */
class CborTest {
    private fun reader(build: CborWriter.() -> Unit) = CborReader(CborWriter().apply(build).bytes())

    private fun failure(build: CborWriter.() -> Unit, read: CborReader.() -> Unit): String =
        assertThrows(CborException::class.java) { reader(build).read() }.message ?: ""

    @Test
    fun `records round trip, with non-ASCII text`() {
        val profile = Profile("u-é", "Zoë 😀", 42u)
        val bytes = CborWriter().writeProfile(profile).bytes()
        assertEquals(profile, CborReader(bytes).readProfile())
    }

    @Test
    fun `fields are matched by name in any order, unknown ones skipped`() {
        val session = reader {
            map(4)
            text("extra"); array(2); uint(1u); map(1); text("deep"); bytes(byteArrayOf(1, 2))
            text("greeting"); text("hi")
            text("x"); double(1.5)
            text("user_id"); text("u1")
        }.readSession()
        assertEquals(Session("u1", "hi"), session)
    }

    @Test
    fun `a key that is a prefix or an extension of a field name is unknown`() {
        val keys = Keys("name", "age")
        for ((key, index) in listOf("name" to 0, "age" to 1, "nam" to -1, "names" to -1, "" to -1)) {
            val r = reader { text(key); uint(7u) }
            assertEquals(index, r.key(keys), key)
            assertEquals(7uL, r.uint(), "the reader moved past '$key'")
        }
    }

    @Test
    fun `malformed records are refused with what is wrong`() {
        assertEquals(
            "Session: missing field 'greeting'",
            failure({ map(1); text("user_id"); text("u1") }) { readSession() },
        )
        assertEquals(
            "expected a text string, found an integer at byte 1",
            failure({ map(1); uint(1u); text("u1") }) { readSession() },
        )
        assertEquals(
            "expected a map, found an array at byte 0",
            failure({ array(0) }) { readSession() },
        )
        // An unknown key is still checked: invalid UTF-8 is an error.
        val badKey = byteArrayOf(0xa1.toByte(), 0x62, 0xff.toByte(), 0xfe.toByte(), 0x01)
        val e = assertThrows(CborException::class.java) { CborReader(badKey).readSession() }
        assertEquals("text at byte 2 is not valid UTF-8", e.message)
        val truncated = CborWriter().writeSession(Session("u1", "hello")).bytes().let { it.copyOf(it.size - 2) }
        assertThrows(CborException::class.java) { CborReader(truncated).readSession() }
    }

    @Test
    fun `integer widths are read leniently, ranges strictly`() {
        val wide = byteArrayOf(0x1a, 0, 0, 0, 42) // 42 in a four-byte head
        assertEquals(42u, CborReader(wide).u32())
        assertEquals("300 does not fit in u8", failure({ uint(300u) }) { u8() })
        assertEquals(-5, reader { int(-5) }.i32())
        assertEquals("1 trailing bytes after the CBOR value", failure({ uint(1u); uint(2u) }) { uint(); end() })
    }
}
