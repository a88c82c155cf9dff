"""x11-486: the seed's machine and load, "X on my 8 meg 486 with nfs mounted /usr" (1997).

Machine: the ``i486-1997`` preset (i386 two-level page tables, 486 costs), 8 MiB of RAM of which
the kernel keeps ~1.7 MiB (image + mem_map), 16 MiB of swap. ``/`` (init, ``/bin``, ``/lib``)
is on the local IDE disk; ``/usr`` (X11R6, the editor, ``grep``) is mounted over NFS, so every
page-cache miss on an X program or library costs an NFS read.

Sizes (4 KiB pages; text = read-only code, data = initialised data, copy-on-write; heap =
bss + brk). Sources: file sizes of Slackware 3.2/3.3 and Red Hat 4.2 (1997) packages --
libc.so.5.4.x ~580 KB, XFree86 3.3 servers 1.5-2 MB, libX11.so.6.1 ~650 KB, libXt ~280 KB,
libXaw ~300 KB, xterm ~150 KB, fvwm 1.24 ~180 KB, bash 1.14 ~300 KB, emacs 19.34 ~1.1 MB of
code plus ~1.3 MB dumped Lisp data; resident sizes as ``ps`` showed them on 8-16 MB desktops
of the time (X server 2-4 MB, xterm ~0.5-1 MB of which a ~200 KB heap, emacs 2-3 MB). These are
assumptions for a model, not measurements:

======================  ====  ====  =====  ======  ==============================================
image                   text  data  heap   device  notes
======================  ====  ====  =====  ======  ==============================================
libc.so.5               145   6     4+0    disk    /lib
init                    5     1     2+4    disk
bash                    70    3     2+25   disk    one per xterm, plus .xinitrc
ls, cat, ps             10,3,8 1    1+6    disk    short commands typed in the xterms
grep                    10    1     1+6    nfs
XF86_SVGA               450   25    20+380 nfs     X server: ~1.6 MB heap (pixmaps, fonts, windows)
libX11.so.6             165   6     0      nfs
libXt.so.6              70    4     0      nfs
libXaw.so.6             75    5     0      nfs
libXmu, libXext         18,11 1,1   0      nfs
libICE, libSM           18,8  1,1   0      nfs
xinit                   4     1     1+4    nfs
fvwm                    45    3     2+60   nfs     window manager
xclock                  6     1     1+20   nfs
xterm                   30    3     2+50   nfs     x3; ~200 KB heap each (scroll-back, Xt state)
emacs                   280   330   8+150  nfs     data = dumped Lisp (read, partly written)
fonts (misc/*.pcf)      50    -     -      nfs     read by the X server into its heap
edited file             -     -     -      disk    25 pages read by emacs into its buffer
======================  ====  ====  =====  ======  ==============================================

Processes: init (1) forks and execs xinit (2); xinit starts the X server (3) and a shell for
.xinitrc (4), which starts fvwm, xclock, three xterms and emacs (each fork + exec); each xterm
forks a bash. Every process maps libc (and the X clients the X libraries) from the same files,
so their text pages are shared through the page cache; each has its own heap and stack.

The interactive phase is ``STEPS`` (x scale) user actions: keystrokes in an xterm (X server ->
xterm -> bash echo -> xterm draws -> X server renders glyphs), a command typed in an xterm
(bash forks, the child execs ls/cat/ps/grep and exits, the output scrolls), keystrokes in emacs
with redisplay, now and then an emacs garbage collection (a sweep over its heap), window
manager operations (focus, move: fvwm and X work, expose redraws of two clients), pointer
motion; and every ``CLOCK_EVERY`` steps xclock redraws its hands. About 1.7 M references at
scale 1. With RAM to spare the run instantiates ~5,500 pages (~1,900 file pages read, ~2,300
zeroed, ~1,400 copied on write, many by the short-lived commands); the 8 MiB machine has ~1,560
frames for processes (2,048 less the kernel's 417 and the free-page watermarks).
"""
from __future__ import annotations

import numpy as np

from rmapsim.scenarios._common import Gen, Image, read_into, scaled
from rmapsim.trace.events import DEV_DISK, DEV_NFS

NAME = "x11-486"
DESCRIPTION = ("the seed's 8 MB 486 with /usr on NFS: an X server, fvwm, xclock, three xterms "
               "with bash and emacs, started by fork+exec, then keystrokes and redraws")
DEFAULTS = {"machine": "i486-1997", "mem": "8M"}

STEPS = 2000
CLOCK_EVERY = 25

LIBC = Image("libc", 1, 145, 6, 4, DEV_DISK)
INIT = Image("init", 2, 5, 1, 2, DEV_DISK)
BASH = Image("bash", 3, 70, 3, 2, DEV_DISK)
LS = Image("ls", 4, 10, 1, 1, DEV_DISK)
CAT = Image("cat", 5, 3, 1, 1, DEV_DISK)
PS = Image("ps", 6, 8, 1, 1, DEV_DISK)
GREP = Image("grep", 7, 10, 1, 1, DEV_NFS)
XSERVER = Image("XF86_SVGA", 10, 450, 25, 20, DEV_NFS)
X11 = Image("libX11", 11, 165, 6, 0, DEV_NFS)
XT = Image("libXt", 12, 70, 4, 0, DEV_NFS)
XAW = Image("libXaw", 13, 75, 5, 0, DEV_NFS)
XMU = Image("libXmu", 14, 18, 1, 0, DEV_NFS)
XEXT = Image("libXext", 15, 11, 1, 0, DEV_NFS)
ICE = Image("libICE", 16, 18, 1, 0, DEV_NFS)
SM = Image("libSM", 17, 8, 1, 0, DEV_NFS)
XINIT = Image("xinit", 18, 4, 1, 1, DEV_NFS)
FVWM = Image("fvwm", 19, 45, 3, 2, DEV_NFS)
XCLOCK = Image("xclock", 20, 6, 1, 1, DEV_NFS)
XTERM = Image("xterm", 21, 30, 3, 2, DEV_NFS)
EMACS = Image("emacs", 22, 280, 330, 8, DEV_NFS)
FONTS_FID, FONTS_PAGES = 30, 50
DOC_FID, DOC_PAGES = 31, 25
IMAGES = (LIBC, INIT, BASH, LS, CAT, PS, GREP, XSERVER, X11, XT, XAW, XMU, XEXT, ICE, SM, XINIT,
          FVWM, XCLOCK, XTERM, EMACS)
XAW_LIBS = (XAW, XMU, XT, SM, ICE, XEXT, X11, LIBC)
COMMANDS = (LS, CAT, PS, GREP)

# reference mixes: (region, weight, write fraction, Zipf alpha)
STACK = ("stack", 1, 0.6, 0.5)
X_INPUT = [("text", 5, 0, 1.1), ("heap", 3, 0.3, 1.0), ("libc", 1, 0, 1.2), STACK]
X_RENDER = [("text", 4, 0, 1.1), ("heap", 5, 0.5, 0.9), ("libc", 0.5, 0, 1.2), STACK]
XT_CLIENT = [("text", 3, 0, 1.0), ("libXt", 2, 0, 1.1), ("libX11", 2, 0, 1.1),
             ("libXaw", 0.5, 0, 1.1), ("libc", 1.5, 0, 1.2), ("heap", 3, 0.4, 1.0), STACK,
             ("libX11.data", 0.3, 0.2, 0.5)]
SHELL = [("text", 3, 0, 1.1), ("libc", 2, 0, 1.2), ("heap", 3, 0.4, 1.0), STACK]
EDITOR = [("text", 4, 0, 1.0), ("data", 3, 0.3, 0.8), ("heap", 3, 0.4, 0.9),
          ("libX11", 1, 0, 1.1), ("libc", 1, 0, 1.2), STACK]
WM = [("text", 3, 0, 1.0), ("libX11", 2, 0, 1.1), ("libc", 1, 0, 1.2), ("heap", 2, 0.3, 1.0),
      STACK]
COMMAND = [("text", 3, 0, 0.8), ("libc", 2, 0, 1.2), ("heap", 3, 0.5, 0.5), STACK]


def generate(seed: int = 1, scale: float = 1.0) -> np.ndarray:
    g = Gen(seed)
    rng = g.rng
    for img in IMAGES:
        g.image(img)
    g.file(FONTS_FID, FONTS_PAGES, DEV_NFS)
    g.file(DOC_FID, DOC_PAGES, DEV_DISK)

    init = g.spawn_init(1)
    g.exec(init, INIT, (LIBC,), heap=4, fresh=True)
    g.touch(init, SHELL, 20)
    pids = iter(range(2, 1 << 20))

    def start(parent, img, libs, heap, stack=4):
        p = g.fork(parent, next(pids))
        g.exec(p, img, libs, heap=heap, stack=stack)
        return p

    xinit = start(init, XINIT, (X11, LIBC), 4)
    x = start(xinit, XSERVER, (LIBC,), 380, stack=8)
    # the server initialises: its heap, the screen's pixmaps, and reads the fonts
    g.seq(x, "heap", 0, 120, write=True)
    read_into(g, x, FONTS_FID, 0, FONTS_PAGES, dest="heap", dest_first=120)
    g.touch(x, X_RENDER, 600)
    rc = start(xinit, BASH, (LIBC,), 25)                # .xinitrc
    g.touch(rc, SHELL, 60)
    fvwm = start(rc, FVWM, (XEXT, X11, LIBC), 60)
    g.touch(fvwm, WM, 300)
    g.touch(x, X_RENDER, 300)
    clock = start(rc, XCLOCK, XAW_LIBS, 20)
    g.touch(clock, XT_CLIENT, 200)
    terms, shells = [], []
    for _ in range(3):
        t = start(rc, XTERM, XAW_LIBS, 50)
        g.seq(t, "heap", 0, 50, write=True)              # scroll-back and Xt state
        g.touch(t, XT_CLIENT, 300)
        g.touch(x, X_RENDER, 200)
        sh = start(t, BASH, (LIBC,), 25)
        g.touch(sh, SHELL, 150)
        terms.append(t)
        shells.append(sh)
    emacs = start(rc, EMACS, (X11, LIBC), 150, stack=8)
    g.touch(emacs, EDITOR, 1500)
    read_into(g, emacs, DOC_FID, 0, DOC_PAGES, dest="heap", dest_first=40)
    g.touch(x, X_RENDER, 500)

    def render(n):
        g.touch(x, X_RENDER, n)

    focus = 0
    for step in range(scaled(STEPS, scale)):
        if step % CLOCK_EVERY == 0:
            g.touch(clock, XT_CLIENT, 40)
            render(30)
        u = rng.random()
        if u < 0.42:                                     # a keystroke in the focused xterm
            g.touch(x, X_INPUT, 25)
            g.touch(terms[focus], XT_CLIENT, 40)
            g.touch(shells[focus], SHELL, 20)
            g.touch(terms[focus], XT_CLIENT, 20)
            render(30)
        elif u < 0.47:                                   # Return: a command runs
            sh = shells[focus]
            g.touch(sh, SHELL, 60)
            cmd = COMMANDS[int(rng.integers(len(COMMANDS)))]
            c = start(sh, cmd, (LIBC,), 6)
            g.touch(c, COMMAND, int(rng.integers(100, 400)))
            g.exit(c)
            g.touch(sh, SHELL, 30)
            g.touch(terms[focus], XT_CLIENT, 200)        # the output scrolls
            render(250)
        elif u < 0.80:                                   # a keystroke in emacs
            g.touch(x, X_INPUT, 25)
            g.touch(emacs, EDITOR, 90)
            render(40)
        elif u < 0.81:                                   # emacs collects garbage
            g.seq(emacs, "heap", 0, emacs.regions["heap"].pages, write=True, per_page=2)
            g.touch(emacs, EDITOR, 400)
        elif u < 0.86:                                   # a window manager operation
            g.touch(x, X_INPUT, 40)
            g.touch(fvwm, WM, 150)
            render(200)
            victims = rng.choice(len(terms) + 1, 2, replace=False)
            for v in victims:                            # expose: two clients redraw
                if v == len(terms):
                    g.touch(emacs, EDITOR, 200)
                else:
                    g.touch(terms[v], XT_CLIENT, 150)
                render(150)
            focus = int(rng.integers(len(terms)))
        else:                                            # pointer motion
            g.touch(x, X_INPUT, 15)
            g.touch(fvwm, WM, 10)
    return g.array()
