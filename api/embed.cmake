# cmake -DIN=file -DOUT=file.c -DNAME=symbol -P embed.cmake
# Writes file's bytes as a C array (NUL-terminated) and its size.
file(READ "${IN}" content HEX)
# Every byte as (char)0xNN: bytes above 0x7f (UTF-8 text) stay exact.
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "(char)0x\\1," bytes "${content}")
file(WRITE "${OUT}" "/* generated from ${IN} */\n#include <stddef.h>\n"
     "extern const char ${NAME}[];\nextern const size_t ${NAME}_size;\n"
     "const char ${NAME}[] = {${bytes} 0x00};\n"
     "const size_t ${NAME}_size = sizeof ${NAME} - 1;\n")
