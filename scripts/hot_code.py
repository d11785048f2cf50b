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

  hot_code.py generate --object bootstrap OUT.ld PROFILE... [--archives ARCHIVE...]
      Write the linker script from callgrind profiles and `perf script -F ip,sym,dso` samples
      (*.txt), which scripts/hot-code makes and names <function>.<variant>.*: the functions
      grouped by the variants that ran them (see `placement`), in each group those callgrind
      saw first, in the order it met them, then those only the samples saw. A function that an
      ARCHIVE (the build's rlibs) holds in an assembly object is placed by its object.
  hot_code.py check SCRIPT.ld BINARY...
      Fail unless at least MIN_PERCENT (90) of the script's patterns name a function of one of
      the BINARYs (builds of the profiled functions with their symbols; debug builds will do):
      a lower figure means a toolchain or dependency update renamed the functions and the
      script has gone stale.
"""

import os
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


# What each profiled process ran, from its profile's name (<function>.<variant>.<rest>, as
# scripts/hot-code names them): the benchmark's variants, and the process that seeds its data.
VARIANTS = ("dynamodb", "sqlite", "sqlite-untraced", "seed")


def profiled_process(profile):
    function, variant = os.path.basename(profile).split(".")[:2]
    if variant not in VARIANTS:
        sys.exit(f"{profile}: no variant ({', '.join(VARIANTS)}) after the function's name")
    return function, variant


def placement(ran_in, functions):
    """Where a function goes in .text.hot, from the processes (function, variant) that ran it.

    A process makes resident the 64 KiB windows around the code it runs, so each variant's code
    should be one stretch, not spread among code that only other variants run. Groups in a
    line: code only DynamoDB runs; code the traced variants share; code every variant runs; code
    only SQLite runs, then only traced SQLite; code only the seeding runs. Each variant's code is
    then contiguous. Within a group, code only the first function runs, then both, then only the
    other, flipped in every other group, so that one function's holes meet at group borders.
    """
    variants = {variant for _, variant in ran_in if variant != "seed"}
    if not variants:
        group = 5
    elif "dynamodb" in variants:
        group = 2 if "sqlite-untraced" in variants else 1 if "sqlite" in variants else 0
    else:
        group = 3 if "sqlite-untraced" in variants else 4
    ran_by = {function for function, _ in ran_in}
    side = 1 if len(ran_by) > 1 else 0 if functions[0] in ran_by else 2
    return group, 2 - side if group % 2 else side


# The object files C compilers name after a hash of their source directory (`cc` crate).
HASHED_OBJECT = re.compile(r"^[0-9a-f]{16}-")


def assembly_objects(archives):
    """Function symbol -> the file pattern of the archive member that holds it in plain `.text`.

    Assembly (ring's AES, SHA and elliptic-curve code) has no section per function: the linker
    script can only place its object's `.text` as a whole, named `archive:member`.
    """
    objects = {}
    for archive in archives:
        members = subprocess.run(["ar", "t", archive], capture_output=True, text=True).stdout
        if all(m.endswith((".rcgu.o", ".rmeta")) for m in members.split()):
            continue  # only Rust code, in sections of its own
        table = subprocess.run(["objdump", "-t", archive], capture_output=True, text=True).stdout
        member = None
        for line in table.splitlines():
            if line.endswith(("file format elf64-x86-64", "file format elf64-littleaarch64")):
                member = HASHED_OBJECT.sub("*-", line.split(":", 1)[0])
            # "<address> <flags...> .text <size> [.hidden] <name>"
            fields = line.split()
            if member and ".text" in fields[1:-2]:
                objects.setdefault(fields[-1], f"*:{member}")
    return objects


def generate(out, object_suffix, profiles, archives=()):
    first_seen, ran_in = {}, {}
    # Callgrind's profiles first, then the samples: a sorted order that puts .txt last.
    for profile in sorted(profiles, key=lambda p: (p.endswith(".txt"), p)):
        process = profiled_process(profile)
        read = sampled_functions if profile.endswith(".txt") else profiled_functions
        for function in read(profile, object_suffix):
            glob = pattern(function)
            first_seen.setdefault(glob, len(first_seen))
            ran_in.setdefault(glob, set()).add(process)
    if not first_seen:
        sys.exit(f"no function of an object ending in {object_suffix!r} in {profiles}")
    functions = sorted({profiled_process(profile)[0] for profile in profiles})
    patterns = sorted(first_seen, key=lambda g: (placement(ran_in[g], functions), first_seen[g]))
    with open(out, "w", encoding="utf-8") as script:
        script.write(
            "/* The functions the benchmarked functions ran, gathered before the rest of the code\n"
            "   (scripts/hot_code.py says why). Made by scripts/hot-code; do not edit. */\n"
            "SECTIONS\n{\n  .text.hot :\n  {\n"
        )
        assembly, placed = assembly_objects(archives), set()
        for glob in patterns:
            if glob in assembly:
                if assembly[glob] not in placed:
                    placed.add(assembly[glob])
                    script.write(f"    {assembly[glob]}(.text)\n")
                continue
            # LLVM puts a #[cold] function (a Vec's growth, a lazy static's first use) in
            # .text.unlikely.<symbol>: once per process is still a page touched.
            script.write(f"    *(.text.{glob} .text.unlikely.{glob})\n")
        script.write("  }\n}\nINSERT BEFORE .text;\n")
    print(f"{out}: {len(patterns)} functions, {len(placed)} assembly objects, {len(profiles)} profiles")


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
        rest = args[4:]
        split = rest.index("--archives") if "--archives" in rest else len(rest)
        generate(args[3], args[2], rest[:split], rest[split + 1 :])
    elif len(args) >= 3 and args[0] == "check":
        check(args[1], args[2:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
