"""placeholder"""
def pretrained(*a, **k): raise NotImplementedError
def pretrained_info(*a, **k): raise NotImplementedError
def list_pretrained(): return []
