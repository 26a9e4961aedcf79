{#-
  C statements borrowing the byte arrays `b.arrays` around `b.call` (which
  assigns the result): every length first, then every pin, so that no JNI
  function runs inside a critical region. When a pin fails, the arrays
  pinned so far are released and the function ends with `b.refused`.
  Each line starts with its newline, like the lines of the calling
  template after a `{%- tag %}`.
-#}
{%- macro borrowing(b) %}
{%- for array in b.arrays %}
    hcj_borrowed {{ array }}_b = hcj_measure(env, {{ array }});
{%- endfor %}
{%- for array in b.arrays %}
    if (!hcj_pin(env, &{{ array }}_b)) {
{%- for earlier in b.released_before(loop.index0) %}
        hcj_release(env, &{{ earlier }}_b);
{%- endfor %}
        {{ b.refused }}
    }
{%- endfor %}
    {{ b.call }}
{%- for array in b.released() %}
    hcj_release(env, &{{ array }}_b);
{%- endfor %}
{%- endmacro %}
