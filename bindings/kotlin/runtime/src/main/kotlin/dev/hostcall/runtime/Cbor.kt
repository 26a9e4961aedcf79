package dev.hostcall.runtime

/**
 * The CBOR subset hostcall's wire form uses: unsigned and negative
 * integers, floats, text and byte strings, arrays, maps with text keys,
 * booleans and null. Generated bindings write and read records with it
 * field by field, so unsigned values keep their full range.
 */
class CborWriter(initialCapacity: Int = 64) {
    private var buf = ByteArray(initialCapacity)
    private var len = 0

    fun bytes(): ByteArray = buf.copyOf(len)

    private fun room(n: Int) {
        if (len + n > buf.size) buf = buf.copyOf(maxOf(buf.size * 2, len + n))
    }

    private fun put(b: Int) {
        room(1)
        buf[len++] = b.toByte()
    }

    private fun head(major: Int, value: ULong) {
        val m = major shl 5
        room(9)
        when {
            value < 24u -> buf[len++] = (m or value.toInt()).toByte()
            value <= 0xffu -> {
                buf[len++] = (m or 24).toByte()
                buf[len++] = value.toInt().toByte()
            }
            value <= 0xffffu -> {
                buf[len++] = (m or 25).toByte()
                for (shift in 8 downTo 0 step 8) buf[len++] = (value shr shift).toInt().toByte()
            }
            value <= 0xffff_ffffu -> {
                buf[len++] = (m or 26).toByte()
                for (shift in 24 downTo 0 step 8) buf[len++] = (value shr shift).toInt().toByte()
            }
            else -> {
                buf[len++] = (m or 27).toByte()
                for (shift in 56 downTo 0 step 8) buf[len++] = (value shr shift).toInt().toByte()
            }
        }
    }

    fun uint(value: ULong): CborWriter = apply { head(0, value) }

    fun int(value: Long): CborWriter = apply {
        if (value >= 0) head(0, value.toULong()) else head(1, (-1 - value).toULong())
    }

    fun double(value: Double): CborWriter = apply {
        room(9)
        buf[len++] = 0xfb.toByte()
        val bits = value.toRawBits()
        for (shift in 56 downTo 0 step 8) buf[len++] = (bits shr shift).toInt().toByte()
    }

    fun bool(value: Boolean): CborWriter = apply { put(if (value) 0xf5 else 0xf4) }

    fun nil(): CborWriter = apply { put(0xf6) }

    /** UTF-8; ASCII text is copied char by char, anything else goes through the encoder (a lone surrogate becomes '?'). */
    fun text(value: String): CborWriter = apply {
        val n = value.length
        var ascii = true
        for (i in 0 until n) {
            if (value[i].code >= 0x80) {
                ascii = false
                break
            }
        }
        if (ascii) {
            head(3, n.toULong())
            room(n)
            for (i in 0 until n) buf[len + i] = value[i].code.toByte()
            len += n
        } else {
            raw(3, value.encodeToByteArray())
        }
    }

    fun bytes(value: ByteArray): CborWriter = apply { raw(2, value) }

    private fun raw(major: Int, value: ByteArray) {
        head(major, value.size.toULong())
        room(value.size)
        value.copyInto(buf, len)
        len += value.size
    }

    fun array(size: Int): CborWriter = apply { head(4, size.toULong()) }

    fun map(size: Int): CborWriter = apply { head(5, size.toULong()) }
}

/** A malformed or unexpected CBOR value. */
class CborException(message: String) : RuntimeException(message)

/** The field names of a record, as [CborReader.key] matches them. */
class Keys(vararg names: String) {
    internal val utf8: Array<ByteArray> = Array(names.size) { names[it].encodeToByteArray() }
}

/** Reads the values [CborWriter] writes; strict about types, lenient about widths. */
class CborReader(private val data: ByteArray) {
    private var pos = 0

    val atEnd: Boolean get() = pos == data.size

    private fun byte(): Int {
        if (pos >= data.size) throw CborException("truncated CBOR at byte $pos")
        return data[pos++].toInt() and 0xff
    }

    private fun argument(info: Int): ULong = when {
        info < 24 -> info.toULong()
        info == 24 -> byte().toULong()
        info == 25 -> (byte().toULong() shl 8) or byte().toULong()
        info == 26 -> (0 until 4).fold(0uL) { acc, _ -> (acc shl 8) or byte().toULong() }
        info == 27 -> (0 until 8).fold(0uL) { acc, _ -> (acc shl 8) or byte().toULong() }
        else -> throw CborException("unsupported CBOR length encoding $info at byte ${pos - 1}")
    }

    /** The major type of the item [header] read last. */
    private var major = 0

    /** Reads an item's head: sets [major], returns its argument (for major 7, the additional info). */
    private fun header(): ULong {
        var initial = byte()
        while (initial shr 5 == 6) { // a tag: skip its number, read the tagged value
            argument(initial and 31)
            initial = byte()
        }
        major = initial shr 5
        return if (major == 7) (initial and 31).toULong() else argument(initial and 31)
    }

    private fun expect(major: Int, what: String): ULong {
        val start = pos
        val arg = header()
        if (this.major != major) {
            pos = start
            throw CborException("expected $what, found ${describe(this.major, arg)} at byte $start")
        }
        return arg
    }

    private fun describe(major: Int, arg: ULong): String = when (major) {
        0, 1 -> "an integer"
        2 -> "a byte string"
        3 -> "a text string"
        4 -> "an array"
        5 -> "a map"
        else -> when (arg) {
            20uL, 21uL -> "a boolean"
            22uL -> "null"
            else -> "a float or simple value"
        }
    }

    fun uint(): ULong = expect(0, "an unsigned integer")

    fun int(): Long {
        val start = pos
        val arg = header()
        return when (val m = major) {
            0 -> if (arg <= Long.MAX_VALUE.toULong()) arg.toLong() else throw CborException("integer $arg out of range at byte $start")
            1 -> if (arg <= Long.MAX_VALUE.toULong()) -1 - arg.toLong() else throw CborException("integer out of range at byte $start")
            else -> {
                pos = start
                throw CborException("expected an integer, found ${describe(m, arg)} at byte $start")
            }
        }
    }

    private fun ranged(value: Long, min: Long, max: Long, what: String): Long =
        if (value in min..max) value else throw CborException("$value does not fit in $what")

    fun i8(): Byte = ranged(int(), Byte.MIN_VALUE.toLong(), Byte.MAX_VALUE.toLong(), "i8").toByte()

    fun i16(): Short = ranged(int(), Short.MIN_VALUE.toLong(), Short.MAX_VALUE.toLong(), "i16").toShort()

    fun i32(): Int = ranged(int(), Int.MIN_VALUE.toLong(), Int.MAX_VALUE.toLong(), "i32").toInt()

    private fun unsigned(max: ULong, what: String): ULong =
        uint().also { if (it > max) throw CborException("$it does not fit in $what") }

    fun u8(): UByte = unsigned(UByte.MAX_VALUE.toULong(), "u8").toUByte()

    fun u16(): UShort = unsigned(UShort.MAX_VALUE.toULong(), "u16").toUShort()

    fun u32(): UInt = unsigned(UInt.MAX_VALUE.toULong(), "u32").toUInt()

    fun double(): Double {
        val start = pos
        return when (val initial = byte()) {
            0xfb -> Double.fromBits((0 until 8).fold(0L) { acc, _ -> (acc shl 8) or byte().toLong() })
            0xfa -> Float.fromBits((0 until 4).fold(0) { acc, _ -> (acc shl 8) or byte() }).toDouble()
            0xf9 -> halfToDouble((byte() shl 8) or byte())
            else -> {
                pos = start
                if (initial shr 5 <= 1) int().toDouble() else throw CborException("expected a float at byte $start")
            }
        }
    }

    private fun halfToDouble(half: Int): Double {
        val exp = (half shr 10) and 0x1f
        val mant = half and 0x3ff
        val value = when (exp) {
            0 -> mant * Math.pow(2.0, -24.0)
            31 -> if (mant == 0) Double.POSITIVE_INFINITY else Double.NaN
            else -> (mant + 1024) * Math.pow(2.0, exp - 25.0)
        }
        return if (half and 0x8000 != 0) -value else value
    }

    fun bool(): Boolean = when (val b = byte()) {
        0xf5 -> true
        0xf4 -> false
        else -> throw CborException("expected a boolean, found initial byte $b at byte ${pos - 1}")
    }

    /** True if the next value is a text string (nothing is consumed): how a unit variant of an error type tells itself apart. */
    fun peekText(): Boolean = pos < data.size && (data[pos].toInt() and 0xff) shr 5 == 3

    /** True (and consumed) if the next value is null. */
    fun nil(): Boolean {
        if (pos < data.size && (data[pos].toInt() and 0xff) == 0xf6) {
            pos++
            return true
        }
        return false
    }

    /** UTF-8, strictly: invalid text is an error, not replaced. ASCII takes a shortcut. */
    fun text(): String {
        val arg = expect(3, "a text string")
        if (arg > (data.size - pos).toULong()) throw CborException("truncated text at byte $pos")
        val len = arg.toInt()
        var ascii = true
        for (i in pos until pos + len) {
            if (data[i] < 0) {
                ascii = false
                break
            }
        }
        val text = if (ascii) {
            String(data, pos, len, Charsets.ISO_8859_1)
        } else {
            try {
                Charsets.UTF_8.newDecoder().decode(java.nio.ByteBuffer.wrap(data, pos, len)).toString()
            } catch (e: java.nio.charset.CharacterCodingException) {
                throw CborException("text at byte $pos is not valid UTF-8")
            }
        }
        pos += len
        return text
    }

    /**
     * Reads a map key that must be text and returns its index in [keys],
     * or -1 for a key not among them; compares bytes, allocates nothing.
     */
    fun key(keys: Keys): Int {
        val head = pos
        val arg = expect(3, "a text string")
        if (arg > (data.size - pos).toULong()) throw CborException("truncated text at byte $pos")
        val len = arg.toInt()
        val start = pos
        for (i in keys.utf8.indices) {
            val key = keys.utf8[i]
            if (key.size == len && java.util.Arrays.equals(data, start, start + len, key, 0, len)) {
                pos = start + len
                return i
            }
        }
        pos = head
        text() // an unknown key is still checked: it must be valid UTF-8
        return -1
    }

    fun bytes(): ByteArray {
        val arg = expect(2, "a byte string")
        if (arg > (data.size - pos).toULong()) throw CborException("truncated bytes at byte $pos")
        val len = arg.toInt()
        return data.copyOfRange(pos, pos + len).also { pos += len }
    }

    /** A count of items, each at least one byte: more than the bytes left is malformed, not a huge allocation. */
    private fun count(major: Int, what: String, perItem: Int): Int {
        val start = pos
        val arg = expect(major, what)
        if (arg > ((data.size - pos) / perItem).toULong()) throw CborException("$what at byte $start claims $arg items, more than the data holds")
        return arg.toInt()
    }

    fun array(): Int = count(4, "an array", 1)

    fun map(): Int = count(5, "a map", 2)

    /** Skips one value (an unknown map entry). */
    fun skip() {
        val start = pos
        val arg = header()
        val m = major
        if (m in 2..5 && arg > (data.size - pos).toULong()) throw CborException("truncated CBOR at byte $start")
        when (m) {
            2, 3 -> pos += arg.toInt()
            4 -> repeat(arg.toInt()) { skip() }
            5 -> repeat(arg.toInt()) {
                skip()
                skip()
            }
            7 -> when (arg.toInt()) {
                25 -> pos += 2
                26 -> pos += 4
                27 -> pos += 8
            }
        }
        if (pos > data.size) throw CborException("truncated CBOR")
    }

    /** Fails unless every byte was read. */
    fun end() {
        if (!atEnd) throw CborException("${data.size - pos} trailing bytes after the CBOR value")
    }
}
