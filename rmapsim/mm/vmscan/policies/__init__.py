"""The built-in reclaim policies, one module each (the registry, ``BUILT_IN``, is
``vmscan/__init__.py``'s), with ``template.py``, the file ``rmapsim policies --template``
prints, and what several of them share: ``swap_out.py`` (2.0-2.4's page-table scan) and
``lists24_aging.py``. What every policy may call on the kernel side is in ``vmscan/``:
``nodes.py`` (lists, ghosts, page identities, a heap) and ``shrink.py``.
"""
