/* Files embedded in the binary at build time (api/embed.cmake). */
#ifndef API_ASSETS_H
#define API_ASSETS_H

#include <stddef.h>

extern const char api_asset_index_html[];
extern const size_t api_asset_index_html_size;
extern const char api_asset_openapi_json[];
extern const size_t api_asset_openapi_json_size;

#endif
