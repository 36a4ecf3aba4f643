/*
 * tests/test_query_xml.h - a small XML well-formedness check for the SVG tests.
 *
 * Not a full XML parser: it checks what a broken SVG writer would get wrong
 * (one root element, every start tag closed in order, attribute values quoted,
 * '&' only in the five predefined or numeric entities, no stray '<'). Header-
 * only so that test_pareto.c and test_query.c share it without a library.
 */
#ifndef NAS_TESTS_TEST_QUERY_XML_H
#define NAS_TESTS_TEST_QUERY_XML_H

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static inline size_t xml_count(const char *text, const char *needle) {
    size_t n = 0, len = strlen(needle);
    for (const char *p = strstr(text, needle); p; p = strstr(p + len, needle)) n++;
    return n;
}

static inline bool xml_fail(char *why, size_t cap, const char *what, const char *at, const char *start) {
    snprintf(why, cap, "%s at offset %ld", what, (long)(at - start));
    return false;
}

static inline bool xml_entity_ok(const char *p) {
    static const char *const names[] = {"&lt;", "&gt;", "&amp;", "&quot;", "&apos;"};
    for (int i = 0; i < 5; i++)
        if (strncmp(p, names[i], strlen(names[i])) == 0) return true;
    if (p[1] == '#') {
        const char *q = p + 2;
        while (isalnum((unsigned char)*q)) q++;
        return *q == ';' && q > p + 2;
    }
    return false;
}

static inline bool xml_well_formed(const char *doc, char *why, size_t cap) {
    enum { MAX_DEPTH = 64, MAX_NAME = 64 };
    char stack[MAX_DEPTH][MAX_NAME];
    int depth = 0, roots = 0;
    const char *p = doc;
    while (*p) {
        if (*p == '&') {
            if (!xml_entity_ok(p)) return xml_fail(why, cap, "bad entity", p, doc);
            p++;
            continue;
        }
        if (*p != '<') {
            if (depth == 0 && !isspace((unsigned char)*p)) return xml_fail(why, cap, "text outside the root", p, doc);
            p++;
            continue;
        }
        if (strncmp(p, "<?", 2) == 0) {
            const char *end = strstr(p, "?>");
            if (!end) return xml_fail(why, cap, "unterminated <?", p, doc);
            p = end + 2;
            continue;
        }
        if (strncmp(p, "<!--", 4) == 0) {
            const char *end = strstr(p, "-->");
            if (!end) return xml_fail(why, cap, "unterminated comment", p, doc);
            p = end + 3;
            continue;
        }
        bool closing = p[1] == '/';
        const char *name = p + (closing ? 2 : 1);
        size_t len = 0;
        while (name[len] && (isalnum((unsigned char)name[len]) || strchr(":_-.", name[len]))) len++;
        if (len == 0 || len >= MAX_NAME) return xml_fail(why, cap, "bad tag name", p, doc);
        const char *q = name + len;
        if (closing) {
            while (isspace((unsigned char)*q)) q++;
            if (*q != '>') return xml_fail(why, cap, "bad end tag", p, doc);
            if (depth == 0 || strlen(stack[depth - 1]) != len || strncmp(stack[depth - 1], name, len) != 0)
                return xml_fail(why, cap, "end tag does not match the open element", p, doc);
            depth--;
            p = q + 1;
            continue;
        }
        /* Attributes: name="value" or name='value', values without '<'. */
        for (;;) {
            while (isspace((unsigned char)*q)) q++;
            if (*q == '>' || (q[0] == '/' && q[1] == '>')) break;
            const char *attr = q;
            while (*q && (isalnum((unsigned char)*q) || strchr(":_-.", *q))) q++;
            if (q == attr || *q != '=' || (q[1] != '"' && q[1] != '\''))
                return xml_fail(why, cap, "bad attribute", q, doc);
            char quote = q[1];
            q += 2;
            while (*q && *q != quote) {
                if (*q == '<') return xml_fail(why, cap, "'<' in an attribute value", q, doc);
                if (*q == '&' && !xml_entity_ok(q)) return xml_fail(why, cap, "bad entity in attribute", q, doc);
                q++;
            }
            if (!*q) return xml_fail(why, cap, "unterminated attribute", attr, doc);
            q++;
        }
        if (depth == 0 && ++roots > 1) return xml_fail(why, cap, "more than one root element", p, doc);
        if (*q == '/') {
            p = q + 2;
            continue;
        }
        if (depth == MAX_DEPTH) return xml_fail(why, cap, "nesting too deep", p, doc);
        memcpy(stack[depth], name, len);
        stack[depth][len] = '\0';
        depth++;
        p = q + 1;
    }
    if (depth != 0) return xml_fail(why, cap, "unclosed element", p, doc);
    if (roots != 1) return xml_fail(why, cap, "no root element", p, doc);
    return true;
}

#endif
