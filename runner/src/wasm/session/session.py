# The guest half of a code-interpreter session, installed once per interpreter as the module
# `_sbx_session`. The host runs each call as one turn: `_sbx_session.cell(code)`; what the turn
# cannot return (the status, the final expression's repr, the figures) is written to
# /tmp/.sbx/out.json, which the host reads and removes after the turn.
import ast
import builtins
import gc
import json
import linecache
import os
import sys
import traceback

_OUT = '/tmp/.sbx'
_ns = None
_count = 0
_result_cap = 1 << 20


def start(env, result_cap):
    """Make the session's namespace; called once, in the first turn."""
    global _ns, _result_cap
    _result_cap = result_cap
    os.environ.update(env)
    os.chdir('/workspace')
    # The runtime was snapshotted with its generators seeded: every session reseeds them
    # from the host's randomness.
    import random
    random.seed()
    try:
        import numpy.random
        numpy.random.seed()
    except Exception:
        pass
    _ns = {'__name__': '__main__', '__builtins__': builtins, '__doc__': None}


def _write(out):
    os.makedirs(_OUT, exist_ok=True)
    with open(_OUT + '/out.json', 'w') as f:
        json.dump(out, f)


def _figures():
    """Each open matplotlib figure as a PNG under /tmp/.sbx, then closed."""
    plt = sys.modules.get('matplotlib.pyplot')
    if plt is None:
        return []
    names = []
    for i, num in enumerate(plt.get_fignums(), 1):
        name = f'figure-{i}.png'
        os.makedirs(_OUT, exist_ok=True)
        plt.figure(num).savefig(_OUT + '/' + name, format='png')
        names.append(name)
    plt.close('all')
    return names


def _own_frames(tb):
    """The traceback without this module's frames."""
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    return tb


def cell(src):
    global _count
    _count += 1
    name = f'<cell {_count}>'
    linecache.cache[name] = (len(src), None, src.splitlines(True), name)
    status, result, exit = 0, None, None
    try:
        tree = ast.parse(src, name, 'exec')
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = ast.Expression(tree.body.pop().value)
        exec(compile(tree, name, 'exec'), _ns)
        if last is not None:
            value = eval(compile(last, name, 'eval'), _ns)
            if value is not None:
                _ns['_'] = value
                result = repr(value)
                if len(result) > _result_cap:
                    result = result[:_result_cap] + '…'
    except SystemExit as e:
        # The cell ends as a script would exit, and the interpreter stays (as in Jupyter).
        code = e.code
        if code is None:
            status = 0
        elif isinstance(code, int):
            status = code & 0xff
        else:
            print(code, file=sys.stderr)
            status = 1
        exit = {'code': status,
                'message': 'SystemExit' if code is None else f'SystemExit: {code}'}
    except BaseException as e:
        traceback.print_exception(type(e), e, _own_frames(e.__traceback__), file=sys.stderr)
        status = 1
    figures = []
    try:
        figures = _figures()
    except Exception as e:
        print(f'the figures could not be saved: {e!r}', file=sys.stderr)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    try:
        _write({'status': status, 'result': result, 'figures': figures, 'exit': exit,
                'fonts_open': _fonts_open()})
    except OSError:
        # The session's disk is full: the host finds no report and a full disk.
        pass


def _fonts_open():
    """Whether matplotlib keeps font files open (it does once a figure has text)."""
    fm = sys.modules.get('matplotlib.font_manager')
    try:
        return fm is not None and fm._get_font.cache_info().currsize > 0
    except Exception:
        return True


def _close_fonts():
    """Close the font files matplotlib keeps open: their descriptors do not survive a pause
    or reach a fork's copies (the next figure opens them again)."""
    fm = sys.modules.get('matplotlib.font_manager')
    if fm is not None:
        try:
            fm._get_font.cache_clear()
        except Exception:
            pass


def before_fork():
    """Let go of what a fork's copies cannot share: the runtime's own open files."""
    _close_fonts()


def before_pause():
    """Let go of what a pause cannot keep: files the runtime holds open (matplotlib's fonts)
    are closed, since descriptors do not survive into another process."""
    _close_fonts()
    gc.collect()
    left = []
    for fd in range(7, 1024):
        try:
            os.fstat(fd)
        except OSError:
            continue
        left.append(fd)
    _write({'status': 0, 'open_fds': left})
