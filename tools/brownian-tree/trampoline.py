# Minimal stand-in for the `trampoline` package: runs generator-based recursion (yield = call and wait, TailCall = jump).
class TailCall(BaseException):
    def __init__(self, call):
        self.call = call

def trampoline(gen):
    try:
        value = None
        while True:
            sub = gen.send(value)
            value = trampoline(sub)
    except StopIteration as e:
        return e.value
    except TailCall as t:
        return trampoline(t.call)
