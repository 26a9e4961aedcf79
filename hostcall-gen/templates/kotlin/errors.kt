{#-
  A library-declared error type (`e`, an `errors::KError`): its sealed
  exception class, its CBOR writer and its reader. The facts (names, KDoc
  text, the message, each field's expressions) come from
  `src/kotlin/errors.rs`; the layout is here. Each line starts with its
  newline, like the lines of the calling template after a `{%- tag %}`.
-#}
{#-
  The sealed class and one subclass per variant: a variant without fields
  is a class without parameters, all of whose instances are equal.
-#}
{%- macro exception(e) %}

{{ self::kdoc(e.doc, "") }}sealed class {{ e.class }}(message: String) : Exception(message) {
{%- for v in e.variants %}
{%- if !loop.first %}
{% endif %}
{%- if v.fields.is_empty() %}
{{ self::kdoc(v.doc, "    ") }}    class {{ v.class }} : {{ e.class }}("{{ v.message }}") {
        override fun equals(other: Any?): Boolean = other is {{ v.class }}
        override fun hashCode(): Int = "{{ v.tag }}".hashCode()
        override fun toString(): String = "{{ e.class }}.{{ v.class }}"
    }
{%- else %}
{{ self::kdoc(v.doc, "    ") }}    class {{ v.class }}(
{%- for f in v.fields %}
{{ self::kdoc(f.doc, "        ") }}        val {{ f.property }}: {{ f.ty }},
{%- endfor %}
    ) : {{ e.class }}("{{ v.message }}") {
        override fun equals(other: Any?): Boolean = other is {{ v.class }}{% for f in v.fields %} && {{ f.equals }}{% endfor %}
        override fun hashCode(): Int = Objects.hash("{{ v.tag }}"{% for f in v.fields %}, {{ f.hash }}{% endfor %})
        override fun toString(): String = "{{ e.class }}.{{ v.class }}({% for f in v.fields %}{% if !loop.first %}, {% endif %}{{ f.property }}={{ f.shown }}{% endfor %})"
    }
{%- endif %}
{%- endfor %}
}
{%- for v in e.variants %}
{%- if v.is_struct %}

private val {{ v.keys }} = Keys({% for f in v.fields %}{% if !loop.first %}, {% endif %}"{{ f.wire }}"{% endfor %})
{%- endif %}
{%- endfor %}
{%- endmacro %}

{#-
  The writer: a unit variant as its bare tag, any other as a map of one
  entry, the tag to the value (a newtype's value bare, a tuple's an array,
  a struct's a map keyed by the fields' wire names).
-#}
{%- macro writer(e) %}

internal fun CborWriter.write{{ e.class }}(v: {{ e.class }}): CborWriter {
    val w = this
    when (v) {
{%- for v in e.variants %}
{%- if v.is_unit %}
        is {{ e.class }}.{{ v.class }} -> w.text("{{ v.tag }}")
{%- else %}
        is {{ e.class }}.{{ v.class }} -> {
{%- if v.is_newtype %}
            w.map(1).text("{{ v.tag }}")
{%- else if v.is_tuple %}
            w.map(1).text("{{ v.tag }}").array({{ v.fields.len() }})
{%- else %}
            w.map(1).text("{{ v.tag }}").map({{ v.fields.len() }})
{%- endif %}
{%- for f in v.fields %}
{%- if v.is_struct %}
            w.text("{{ f.wire }}")
{%- endif %}
            {{ f.encode }}
{%- endfor %}
        }
{%- endif %}
{%- endfor %}
    }
    return w
}
{%- endmacro %}

{#-
  The reader: a bare tag names a unit variant; otherwise a map of one
  entry, its value read by the variant's shape (a unit variant's is null).
-#}
{%- macro reader(e) %}

internal fun CborReader.read{{ e.class }}(): {{ e.class }} {
    val r = this
{%- if e.has_unit %}
    if (r.peekText()) {
        return when (val tag = r.text()) {
{%- for v in e.variants %}
{%- if v.is_unit %}
            "{{ v.tag }}" -> {{ e.class }}.{{ v.class }}()
{%- endif %}
{%- endfor %}
            else -> throw CborException("{{ e.class }}: unknown variant '$tag'")
        }
    }
{%- else %}
    if (r.peekText()) throw CborException("{{ e.class }}: unknown variant '${r.text()}'")
{%- endif %}
    if (r.map() != 1) throw CborException("{{ e.class }}: expected a variant, a map of one entry")
    return when (val tag = r.text()) {
{%- for v in e.variants %}
{%- if v.is_unit %}
        "{{ v.tag }}" -> {
            if (!r.nil()) throw CborException("{{ e.class }}.{{ v.class }}: a unit variant carries no value")
            {{ e.class }}.{{ v.class }}()
        }
{%- else if v.is_newtype %}
        "{{ v.tag }}" -> {{ e.class }}.{{ v.class }}({{ v.fields[0].decode }})
{%- else if v.is_tuple %}
        "{{ v.tag }}" -> {
            if (r.array() != {{ v.fields.len() }}) throw CborException("{{ e.class }}.{{ v.class }}: expected {{ v.fields.len() }} fields")
{%- for f in v.fields %}
            val {{ f.property }} = {{ f.decode }}
{%- endfor %}
            {{ e.class }}.{{ v.class }}({% for f in v.fields %}{% if !loop.first %}, {% endif %}{{ f.property }}{% endfor %})
        }
{%- else %}
        "{{ v.tag }}" -> {
{%- for f in v.fields %}
            var {{ f.property }}: {{ f.local }} = null
{%- endfor %}
            repeat(r.map()) {
                when (r.key({{ v.keys }})) {
{%- for f in v.fields %}
                    {{ loop.index0 }} -> {{ f.property }} = {{ f.decode }}
{%- endfor %}
                    else -> r.skip()
                }
            }
            {{ e.class }}.{{ v.class }}(
{%- for f in v.fields %}
{%- if f.optional %}
                {{ f.property }} = {{ f.property }},
{%- else %}
                {{ f.property }} = {{ f.property }} ?: throw CborException("{{ e.class }}.{{ v.class }}: missing field '{{ f.wire }}'"),
{%- endif %}
{%- endfor %}
            )
        }
{%- endif %}
{%- endfor %}
        else -> throw CborException("{{ e.class }}: unknown variant '$tag'")
    }
}
{%- endmacro %}
