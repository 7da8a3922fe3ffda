# Prints, with librpm's own dependency matching (rpmdsCompare), whether package A's provides
# meet its own conflicts, B's conflicts, and whether B's provides meet A's conflicts.
# rpm 4.11 refuses a --replacepkgs reinstall exactly when the first is True.
import os, sys, rpm
ts = rpm.TransactionSet()
ts.setVSFlags(-1)
def header(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        return ts.hdrFromFdno(fd)
    finally:
        os.close(fd)
def overlaps(provider, conflicter):
    return any(p.Compare(c) for p in rpm.ds(provider, "provides") for c in rpm.ds(conflicter, "conflicts"))
a, b = header(sys.argv[1]), header(sys.argv[2])
print(overlaps(a, a), overlaps(a, b), overlaps(b, a))
