import cProfile, pstats, collections
from tests.test_fuzz import Fuzzer, list_apis, fuzzer  # noqa
import tests.test_fuzz as tf

def test_prof(fuzzer):
    apis = list_apis(fuzzer)
    seen = collections.Counter()
    orig = tf.call
    def spy(*a, **k):
        ans = orig(*a, **k)
        if ans.status in (530, 531):
            seen[(a[2], ans.status, (ans.errortext or "")[:90])] += 1
        return ans
    tf.call = spy
    pr = cProfile.Profile(); pr.enable()
    for api in apis:
        for param in api.params:
            fuzzer.fuzz_param(api, param)
        fuzzer.fuzz_names(api)
    pr.disable()
    tf.call = orig
    for k, v in seen.items(): print(v, k)
    pstats.Stats(pr).sort_stats("cumulative").print_stats(45)
