import unittest

from calc.arith import add
from calc.text import shout


class Calc(unittest.TestCase):
    def test_add(self) -> None:
        self.assertEqual(add(2, 3), 5)

    def test_shout(self) -> None:
        self.assertEqual(shout("hi"), "HI")
