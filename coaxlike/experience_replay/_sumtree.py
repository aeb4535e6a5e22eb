"""SumTree: a binary tree of partial sums in one numpy array, vectorised over queries."""
import numpy as np

from ._checks import check_positive_int

__all__ = ["SumTree"]


class SumTree:
    r"""Non-negative leaf values with O(log n) vectorised updates and prefix-sum search.

    The tree lives in one float64 array ``tree`` of length ``2 L`` where ``L`` is the
    smallest power of two ``>= capacity``: node ``k`` has children ``2k`` and ``2k + 1``,
    the root is node 1 and leaf ``i`` is node ``L + i``. Every internal node holds the sum of
    its children, recomputed from them on each update (so rounding errors never accumulate).

    :meth:`find` inverts the cumulative sum: for a query :math:`u \in [0, \text{total})` it
    returns the leaf :math:`i` with :math:`\sum_{j<i} v_j \le u < \sum_{j \le i} v_j`,
    descending all queries level by level with array operations.

    Args:
        capacity: the number of leaves, an int >= 1.

    Examples:
        >>> import numpy as np
        >>> from coaxlike.experience_replay import SumTree
        >>> tree = SumTree(4)
        >>> tree.set(np.array([0, 1, 2, 3]), np.array([1.0, 0.0, 2.0, 1.0]))
        >>> tree.total
        4.0
        >>> tree.find(np.array([0.0, 0.99, 1.0, 2.5, 3.0])).tolist()
        [0, 0, 2, 2, 3]
    """

    def __init__(self, capacity: int):
        self.capacity = check_positive_int("capacity", capacity)
        self._leaf0 = 1 << (self.capacity - 1).bit_length()  # L: a power of two >= capacity
        self._depth = self._leaf0.bit_length() - 1
        self._tree = np.zeros(2 * self._leaf0, np.float64)

    @property
    def total(self) -> float:
        """The sum of all leaf values."""
        return float(self._tree[1])

    def clear(self) -> None:
        """Set every leaf to zero."""
        self._tree[:] = 0.0

    def get(self, idx) -> np.ndarray:
        """Leaf values at ``idx`` (int array of any shape), as float64 of the same shape."""
        return self._tree[self._leaf0 + self._check_idx(idx)]

    def set(self, idx, values) -> None:
        """Set leaves ``idx`` (``(B,)`` ints) to ``values`` (``(B,)``, finite and >= 0).

        For a repeated index the last value wins.

        Raises:
            TypeError: if ``idx`` is not integers.
            ValueError: on out-of-range indices, mismatched shapes or invalid values.
        """
        idx = self._check_idx(idx)
        values = np.asarray(values, np.float64)
        if idx.shape != values.shape or idx.ndim != 1:
            raise ValueError(f"idx and values must have the same shape (B,), got {idx.shape} "
                             f"and {values.shape}")
        if not np.all(np.isfinite(values) & (values >= 0)):
            raise ValueError(f"values must be finite and >= 0, got {values!r}")
        # keep the last occurrence of each index, so the assignment is well defined
        last = len(idx) - 1 - np.unique(idx[::-1], return_index=True)[1]
        nodes = self._leaf0 + idx[last]
        self._tree[nodes] = values[last]
        for _ in range(self._depth):
            nodes = np.unique(nodes // 2)
            self._tree[nodes] = self._tree[2 * nodes] + self._tree[2 * nodes + 1]

    def find(self, u) -> np.ndarray:
        """Leaf indices whose prefix-sum interval contains each query in ``u``.

        Args:
            u: queries, an array of floats in ``[0, total)``.

        Returns:
            ndarray: int64 leaf indices, the shape of ``u``. A subtree of total zero is never
            entered, so a leaf of value zero is returned only if every leaf is zero.
        """
        u = np.array(u, np.float64)
        node = np.ones(u.shape, np.int64)
        for _ in range(self._depth):
            left = 2 * node
            left_sum = self._tree[left]
            right = (u >= left_sum) & (self._tree[left + 1] > 0)
            u = np.where(right, u - left_sum, u)
            node = np.where(right, left + 1, left)
        return np.minimum(node - self._leaf0, self.capacity - 1)

    def _check_idx(self, idx) -> np.ndarray:
        idx = np.asarray(idx)
        if not np.issubdtype(idx.dtype, np.integer):
            raise TypeError(f"idx must be integers, got dtype {idx.dtype}")
        if idx.size and (idx.min() < 0 or idx.max() >= self.capacity):
            raise ValueError(f"idx must be in [0, {self.capacity}), got values in "
                             f"[{idx.min()}, {idx.max()}]")
        return idx.astype(np.int64)
