"""A bench's scratch directory and the processes it started, removed
together: at its end and on SIGTERM."""
import shutil, subprocess


def remove(work, procs=()):
    """Kills what the bench started (procs, then anything still running
    from work: osrun's QEMUs and keepers), then removes work."""
    for p in procs:
        if p is not None and p.poll() is None:
            p.kill()
            p.wait()
    subprocess.run(["pkill", "-KILL", "-f", work + "/"], stderr=subprocess.DEVNULL)
    shutil.rmtree(work, ignore_errors=True)
