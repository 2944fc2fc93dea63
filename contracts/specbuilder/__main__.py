"""``python -m contracts.specbuilder``: regenerate ``contracts/specs/*.yaml`` from the builders."""

from __future__ import annotations

from contracts.specbuilder import write_specs


def main() -> int:
    for path in write_specs():
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
