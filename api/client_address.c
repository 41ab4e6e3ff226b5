/* Who the client is: the peer, or behind a trusted reverse proxy the
 * address that proxy forwarded (X-Forwarded-For). See server_internal.h. */
#include "server_internal.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define ADDRESS_TEXT_MAX 64 /* an address with a prefix, as written */

struct address {
    int family; /* 0: none */
    uint8_t bytes[16];
};

/* An IPv4 address mapped into IPv6 (::ffff:a.b.c.d) is the IPv4 one. */
static void address_unmap(struct address *address)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (address->family == AF_INET6 && memcmp(address->bytes, mapped, sizeof mapped) == 0) {
        memmove(address->bytes, address->bytes + 12, 4);
        memset(address->bytes + 4, 0, 12);
        address->family = AF_INET;
    }
}

/* Parses an address of length bytes ("[...]" around an IPv6 one allowed). */
static bool address_parse(struct address *address, const char *text, size_t length)
{
    char copy[ADDRESS_TEXT_MAX];
    if (length >= 2 && text[0] == '[' && text[length - 1] == ']') {
        text++;
        length -= 2;
    }
    if (length == 0 || length >= sizeof copy)
        return false;
    memcpy(copy, text, length);
    copy[length] = '\0';
    memset(address, 0, sizeof *address);
    if (inet_pton(AF_INET, copy, address->bytes) == 1)
        address->family = AF_INET;
    else if (inet_pton(AF_INET6, copy, address->bytes) == 1)
        address->family = AF_INET6;
    else
        return false;
    address_unmap(address);
    return true;
}

static void address_text(char *out, size_t out_size, const struct address *address)
{
    if (address->family == 0 ||
        inet_ntop(address->family, address->bytes, out, (socklen_t)out_size) == NULL)
        snprintf(out, out_size, "unknown");
}

static bool prefix_matches(const struct api_address_prefix *prefix, const struct address *address)
{
    if (prefix->family != address->family)
        return false;
    unsigned whole = prefix->prefix_bits / 8;
    unsigned rest = prefix->prefix_bits % 8;
    if (memcmp(prefix->address, address->bytes, whole) != 0)
        return false;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return rest == 0 || (prefix->address[whole] & mask) == (address->bytes[whole] & mask);
}

static bool trusted(const struct api_trusted_proxies *proxies, const struct address *address)
{
    for (size_t i = 0; i < proxies->count; i++)
        if (prefix_matches(&proxies->prefixes[i], address))
            return true;
    return false;
}

/* One "ADDR" or "ADDR/BITS" of length bytes. */
static bool prefix_parse(struct api_address_prefix *prefix, const char *text, size_t length)
{
    const char *slash = memchr(text, '/', length);
    struct address address;
    if (!address_parse(&address, text, slash != NULL ? (size_t)(slash - text) : length))
        return false;
    unsigned bits_max = address.family == AF_INET ? 32 : 128;
    unsigned bits = bits_max;
    if (slash != NULL) {
        size_t digits = length - (size_t)(slash - text) - 1;
        if (digits < 1 || digits > 3)
            return false;
        bits = 0;
        for (size_t i = 1; i <= digits; i++) {
            if (slash[i] < '0' || slash[i] > '9')
                return false;
            bits = bits * 10 + (unsigned)(slash[i] - '0');
        }
        if (bits > bits_max)
            return false;
    }
    prefix->family = address.family;
    memcpy(prefix->address, address.bytes, sizeof prefix->address);
    prefix->prefix_bits = bits;
    return true;
}

bool api_trusted_proxies_parse(struct api_trusted_proxies *proxies, const char *text)
{
    memset(proxies, 0, sizeof *proxies);
    const char *at = text;
    for (;;) {
        at += strspn(at, ", \t");
        if (*at == '\0')
            return true;
        size_t length = strcspn(at, ", \t");
        if (proxies->count >= API_TRUSTED_PROXIES_MAX ||
            !prefix_parse(&proxies->prefixes[proxies->count], at, length))
            return false;
        proxies->count++;
        at += length;
    }
}

static void address_of_peer(struct address *address, const struct sockaddr *peer)
{
    memset(address, 0, sizeof *address);
    if (peer != NULL && peer->sa_family == AF_INET) {
        memcpy(address->bytes, &((const struct sockaddr_in *)(const void *)peer)->sin_addr, 4);
        address->family = AF_INET;
    } else if (peer != NULL && peer->sa_family == AF_INET6) {
        memcpy(address->bytes, &((const struct sockaddr_in6 *)(const void *)peer)->sin6_addr, 16);
        address->family = AF_INET6;
        address_unmap(address);
    }
}

/* Walks forwarded_for from its right end: each address written by a hop
 * we trust. Stops at the first untrusted one (the client), or at one that
 * does not parse (then the last trusted hop stands for the client). */
static void forwarded_client(struct address *client, const struct api_trusted_proxies *proxies,
                             const char *const *forwarded_for, size_t forwarded_count)
{
    size_t hops = 0;
    for (size_t header = forwarded_count; header-- > 0;) {
        const char *start = forwarded_for[header];
        const char *end = start + strlen(start);
        while (end > start && hops < API_FORWARDED_HOPS_MAX) {
            const char *comma = end;
            while (comma > start && comma[-1] != ',')
                comma--;
            const char *first = comma;
            const char *last = end;
            while (first < last && (*first == ' ' || *first == '\t'))
                first++;
            while (last > first && (last[-1] == ' ' || last[-1] == '\t'))
                last--;
            struct address hop;
            if (!address_parse(&hop, first, (size_t)(last - first)))
                return;
            *client = hop;
            hops++;
            if (!trusted(proxies, &hop))
                return;
            end = comma > start ? comma - 1 : start;
        }
    }
}

bool api_peer_trusted(const struct api_trusted_proxies *proxies, const struct sockaddr *peer)
{
    struct address address;
    address_of_peer(&address, peer);
    return address.family != 0 && trusted(proxies, &address);
}

void api_client_address_resolve(char *out, size_t out_size,
                                const struct api_trusted_proxies *proxies,
                                const struct sockaddr *peer, const char *const *forwarded_for,
                                size_t forwarded_count)
{
    struct address client;
    address_of_peer(&client, peer);
    if (client.family != 0 && trusted(proxies, &client))
        forwarded_client(&client, proxies, forwarded_for, forwarded_count);
    address_text(out, out_size, &client);
}

void api_client_rate_key(char *out, size_t out_size, const char *address)
{
    struct address parsed;
    if (!address_parse(&parsed, address, strlen(address)) || parsed.family != AF_INET6) {
        snprintf(out, out_size, "%s", address);
        return;
    }
    memset(parsed.bytes + 8, 0, 8);
    char text[ADDRESS_TEXT_MAX];
    address_text(text, sizeof text, &parsed);
    snprintf(out, out_size, "%s/64", text);
}
