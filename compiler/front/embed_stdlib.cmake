# Turns the stdlib/*.xdpl files into a C array of {path, text} so xdplc
# carries its standard library inside the binary.
set(out "/* generated from stdlib/ by embed_stdlib.cmake */\n#include <stddef.h>\n")
string(APPEND out "#include \"frontend.h\"\nconst struct stdlib_file xdpl_stdlib[] = {\n")
foreach(f ${FILES})
  file(READ ${SRC}/${f} text HEX)
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "\\\\x\\1" text "${text}")
  string(APPEND out "  { \"<stdlib>/${f}\", \"${text}\" },\n")
endforeach()
string(APPEND out "  { NULL, NULL }\n};\n")
file(WRITE ${OUT} "${out}")
