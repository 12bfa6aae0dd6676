/* The console's window onto ncursesw.
 *
 * Swift 6 cannot use curses' macros (A_*, WACS_*, COLOR_PAIR on some builds) nor read its
 * mutable globals (stdscr, LINES, COLS, COLORS, ESCDELAY) without a concurrency error, so every
 * one the console needs is reached through a static inline function here. SwiftPM drops the
 * -D_XOPEN_SOURCE=600 that pkg-config would add, so the wide-character API is switched on by hand.
 */
#ifndef CKS_NCURSESW_SHIM_H
#define CKS_NCURSESW_SHIM_H

#define NCURSES_WIDECHAR 1
#include <locale.h>
#include <langinfo.h>
#include <wchar.h>
#include <string.h>
#include <stdlib.h>
#include <ncurses.h>

/* Globals. */
static inline WINDOW *cks_stdscr(void) { return stdscr; }
static inline int cks_lines(void) { return LINES; }
static inline int cks_cols(void) { return COLS; }
static inline int cks_colors(void) { return COLORS; }
static inline int cks_color_pairs(void) { return COLOR_PAIRS; }
static inline void cks_set_escdelay(int ms) { set_escdelay(ms); }

/* Attributes (NCURSES_BITS macros). */
static inline attr_t cks_a_normal(void) { return A_NORMAL; }
static inline attr_t cks_a_bold(void) { return A_BOLD; }
static inline attr_t cks_a_dim(void) { return A_DIM; }
static inline attr_t cks_a_reverse(void) { return A_REVERSE; }
static inline attr_t cks_a_underline(void) { return A_UNDERLINE; }
static inline attr_t cks_a_italic(void) { return A_ITALIC; }
static inline attr_t cks_a_standout(void) { return A_STANDOUT; }

/* Terminal setup. */
static inline const char *cks_setlocale_from_env(void) { return setlocale(LC_ALL, ""); }
static inline int cks_locale_is_utf8(void) {
    const char *cs = nl_langinfo(CODESET);
    return cs != 0 && (strcmp(cs, "UTF-8") == 0 || strcmp(cs, "utf8") == 0);
}
static inline int cks_key_code_yes(void) { return KEY_CODE_YES; }

/* Colour: -1 is the terminal's own colour once use_default_colors() succeeded. */
static inline int cks_start_color(int want_default) {
    if (!has_colors()) return 0;
    if (start_color() != OK) return 0;
    if (want_default) use_default_colors();
    return 1;
}
static inline int cks_init_pair(int pair, int fg, int bg) {
    if (pair >= 256 && pair < COLOR_PAIRS) return init_extended_pair(pair, fg, bg);
    return init_pair((short)pair, (short)fg, (short)bg);
}

/* Background of the whole window: every blank takes the `normal` role's colours. */
static inline void cks_bkgd(WINDOW *w, attr_t attrs, int pair) {
    cchar_t c; wchar_t sp[2] = { L' ', 0 };
    setcchar(&c, sp, attrs, (short)(pair < 32768 ? pair : 0), &pair);
    wbkgrnd(w, &c);
}

/* Draw a run of wide characters at (y, x) with attributes and a colour pair. */
static inline int cks_put(WINDOW *w, int y, int x, const wchar_t *text, int n, attr_t attrs, int pair) {
    wattr_set(w, attrs, (short)(pair < 32768 ? pair : 0), &pair);
    int r = mvwaddnwstr(w, y, x, text, n);
    wattr_set(w, A_NORMAL, 0, 0);
    return r;
}

/* Box and lines with WACS (the wide-character alternate character set). */
static inline int cks_box(WINDOW *w) { return box_set(w, WACS_VLINE, WACS_HLINE); }
static inline int cks_hline(WINDOW *w, int y, int x, int n) { return mvwhline_set(w, y, x, WACS_HLINE, n); }
static inline int cks_vline(WINDOW *w, int y, int x, int n) { return mvwvline_set(w, y, x, WACS_VLINE, n); }

/* Key input: OK with a character, KEY_CODE_YES with a function key, ERR when nothing came. */
static inline int cks_get_wch(WINDOW *w, unsigned int *out) {
    wint_t c = 0;
    int r = wget_wch(w, &c);
    *out = (unsigned int)c;
    return r;
}

#endif
