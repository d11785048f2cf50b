#!/usr/bin/env python3
"""The functions' hot code, kept together in the bootstrap (see shared/link/hot-code.ld).

The kernel maps a bootstrap's code in 64 KiB windows around every page a process touches, so
the code one request runs, spread over the whole of .text, makes nearly all of .text resident.
A linker script that gathers the functions a benchmarked function actually runs into one output
section, .text.hot, lets far fewer windows cover them.

Function sections are named after their symbols, and a Rust symbol carries hashes (of its
crate and of the instance) that change with the toolchain, the dependencies and the build flags.
So the script's patterns are the symbols with those hashes replaced by `*`: they keep matching
after such changes, in the deployed build as in a debug one. A pattern matches every instance of
a generic function (legacy symbol names tell instances apart by their hash alone), which also
catches instances that only run outside the profilers.

  hot_code.py generate --object bootstrap OUT.ld PROFILE...
      Write the linker script from callgrind profiles and `perf script -F ip,sym,dso` samples
      (*.txt), which scripts/hot-code makes: the functions callgrind saw first, in the order
      it met them, then those only the samples saw.
  hot_code.py check SCRIPT.ld BINARY...
      Fail unless at least MIN_PERCENT (90) of the script's patterns name a function of one of
      the BINARYs (builds of the profiled functions with their symbols; debug builds will do):
      a lower figure means a toolchain or dependency update renamed the functions and the
      script has gone stale.
"""

import re
import subprocess
import sys

# Legacy Rust symbols: _ZN<path>17h<16 hex digits>E, LLVM may append .llvm.<n> and the like.
LEGACY_HASH = re.compile(r"17h[0-9a-f]{16}E.*$")
# v0 symbols (_R..., the standard library's): crate disambiguators (Cs<base-62>_) and
# back-references (B<base-62>_), whose numbers are offsets into the symbol and so move when a
# disambiguator's length does.
V0_CRATE = re.compile(r"Cs[0-9A-Za-z]*_")
V0_BACKREF = re.compile(r"B[0-9A-Za-z]*_")
# Suffixes LLVM gives the local copies link-time optimisation makes (write_str.1593, .llvm.<n>):
# numbered afresh in every build.
LOCAL_COPY = re.compile(r"(\.llvm)?\.[0-9]+$")
RECURSION = re.compile(r"'[0-9]+$")
MIN_PERCENT = 90
SCRIPT_PATTERN = re.compile(r"^\s*\*\(\.text\.(\S+) ")


def pattern(symbol):
    """The glob that matches `symbol`'s function section whatever its hashes are."""
    if symbol.startswith("_ZN"):
        return LEGACY_HASH.sub("17h*", symbol)
    if symbol.startswith("_R"):
        symbol = V0_CRATE.sub("Cs*_", LOCAL_COPY.sub("", symbol))
        return V0_BACKREF.sub("B*_", symbol) + "*"
    # C functions (SQLite, ring) keep their names, and so do compilers' clones (foo.constprop.0).
    return symbol


def profiled_functions(path, object_suffix):
    """Functions of the object ending in `object_suffix` that ran, in the order callgrind met them.

    Callgrind names a file or a function once in full with a number, then by the number alone
    (`fn=(7) main`, later `fn=(7)`), and the first mention may be as a callee (cfn=, cob=). A
    function ran if it has a cost block of its own: an `fn=` line under its object's `ob=`.
    """
    names = {"ob": {}, "fn": {}}
    functions, current_object = [], None
    entry = re.compile(r"^c?(ob|fn)=\((\d+)\)(?: (.*))?$")
    with open(path, encoding="utf-8", errors="replace") as profile:
        for line in profile:
            match = entry.match(line.rstrip("\n"))
            if not match:
                continue
            kind, number, name = match.groups()
            if name is not None:
                names[kind][number] = name
            if line.startswith("ob="):
                current_object = names["ob"].get(number)
            elif line.startswith("fn=") and current_object and (
                current_object.endswith(object_suffix)
                # Valgrind names the object of part of a bootstrap's code "???" (the code that
                # the linker script places before .text); the functions keep their names.
                or current_object == "???"
            ):
                name = names["fn"][number]
                # Callgrind's names for code without a symbol: "0x0000000004838030", "(below main)".
                if not name.startswith(("0x", "(")):
                    # A recursive function's deeper calls are counted apart, as name'2, name'3...
                    functions.append(RECURSION.sub("", name))
    return functions


def sampled_functions(path, object_suffix):
    """Functions of the object ending in `object_suffix` in perf samples (`ip symbol (object)`)."""
    functions = []
    with open(path, encoding="utf-8", errors="replace") as samples:
        for line in samples:
            fields = line.split()
            in_object = len(fields) == 3 and fields[2].endswith(f"{object_suffix})")
            if in_object and fields[1] != "[unknown]":
                functions.append(fields[1])
    return functions


def generate(out, object_suffix, profiles):
    patterns, seen = [], set()
    # Callgrind's profiles first, then the samples: a sorted order that puts .txt last.
    for profile in sorted(profiles, key=lambda p: (p.endswith(".txt"), p)):
        read = sampled_functions if profile.endswith(".txt") else profiled_functions
        for function in read(profile, object_suffix):
            glob = pattern(function)
            if glob not in seen:
                seen.add(glob)
                patterns.append(glob)
    if not patterns:
        sys.exit(f"no function of an object ending in {object_suffix!r} in {profiles}")
    with open(out, "w", encoding="utf-8") as script:
        script.write(
            "/* The functions the benchmarked functions ran, gathered before the rest of the code\n"
            "   (scripts/hot_code.py says why). Made by scripts/hot-code; do not edit. */\n"
            "SECTIONS\n{\n  .text.hot :\n  {\n"
        )
        for glob in patterns:
            # LLVM puts a #[cold] function (a Vec's growth, a lazy static's first use) in
            # .text.unlikely.<symbol>: once per process is still a page touched.
            script.write(f"    *(.text.{glob} .text.unlikely.{glob})\n")
        script.write("  }\n}\nINSERT BEFORE .text;\n")
    print(f"{out}: {len(patterns)} patterns from {len(profiles)} profiles")


def script_patterns(path):
    with open(path, encoding="utf-8") as script:
        return [m.group(1) for m in map(SCRIPT_PATTERN.match, script) if m]


def check(script, binaries):
    present = set()
    for binary in binaries:
        symbols = subprocess.run(
            ["nm", "--defined-only", "--format=just-symbols", binary],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()
        present.update(pattern(symbol) for symbol in symbols)
    patterns = script_patterns(script)
    missing = [glob for glob in patterns if glob not in present]
    percent = 100 * (len(patterns) - len(missing)) / max(len(patterns), 1)
    print(f"{script}: {percent:.1f}% of its {len(patterns)} patterns name a function of", binaries)
    if percent < MIN_PERCENT:
        for glob in missing[:20]:
            print(f"  not found: {glob}")
        sys.exit(
            f"{script} has gone stale (below {MIN_PERCENT}%): regenerate it with scripts/hot-code"
        )


def main(args):
    if len(args) >= 4 and args[0] == "generate" and args[1] == "--object":
        generate(args[3], args[2], args[4:])
    elif len(args) >= 3 and args[0] == "check":
        check(args[1], args[2:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
