"""A fake cnnlab.checks whose checks pass everything."""
def _nothing(*args, **kwargs):
    return None
def question(qid):
    def register(test):
        test()
        return test
    return register
class ConvCase:
    def __init__(self, *args, **kwargs):
        pass
def random_conv_cases(*args, **kwargs):
    return []
def random_size_cases(*args, **kwargs):
    return []
expect = start = summary = _nothing
check_output_size = check_conv2d = check_conv2d_grouped = check_im2col = _nothing
check_vectorised = check_convolve2d = check_flip_invariant = _nothing
