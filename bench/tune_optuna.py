"""Reference side of bench/tune.ts (never a Hone dependency): Optuna's samplers on the same five
functions, same domains, seeds and trial budget. Prints one JSON object on stdout.

    /usr/bin/python3 bench/tune_optuna.py --seeds 10 --trials 100
"""
import argparse, json, math, statistics, sys, time

import optuna

optuna.logging.set_verbosity(optuna.logging.ERROR)


def branin(x):
    x1, x2 = x
    b, c, t = 5.1 / (4 * math.pi ** 2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1 ** 2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


H6_A = [[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]]
H6_P = [[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
        [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]]
H6_ALPHA = [1.0, 1.2, 3.0, 3.2]


def hartmann6(x):
    return -sum(H6_ALPHA[i] * math.exp(-sum(H6_A[i][j] * (x[j] - H6_P[i][j] * 1e-4) ** 2 for j in range(6)))
                for i in range(4))


def rosenbrock(x):
    return sum(100 * (x[i + 1] - x[i] ** 2) ** 2 + (x[i] - 1) ** 2 for i in range(len(x) - 1))


def ackley(x):
    d = len(x)
    return (-20 * math.exp(-0.2 * math.sqrt(sum(v * v for v in x) / d))
            - math.exp(sum(math.cos(2 * math.pi * v) for v in x) / d) + 20 + math.e)


def levy(x):
    w = [1 + (v - 1) / 4 for v in x]
    s = math.sin(math.pi * w[0]) ** 2
    for i in range(len(w) - 1):
        s += (w[i] - 1) ** 2 * (1 + 10 * math.sin(math.pi * w[i] + 1) ** 2)
    return s + (w[-1] - 1) ** 2 * (1 + math.sin(2 * math.pi * w[-1]) ** 2)


FUNCTIONS = {
    "branin": (branin, [(-5, 10), (0, 15)], 0.397887357729738),
    "hartmann6": (hartmann6, [(0, 1)] * 6, -3.32236801141551),
    "rosenbrock4": (rosenbrock, [(-5, 10)] * 4, 0.0),
    "ackley5": (ackley, [(-32.768, 32.768)] * 5, 0.0),
    "levy5": (levy, [(-10, 10)] * 5, 0.0),
}
SAMPLERS = {
    "tpe": lambda s: optuna.samplers.TPESampler(seed=s, multivariate=True),
    "random": lambda s: optuna.samplers.RandomSampler(seed=s),
}


def objective(f, bounds):
    return lambda t: f([t.suggest_float(f"x{i}", lo, hi) for i, (lo, hi) in enumerate(bounds)])


def ask_ms(n_complete, repeats=20):
    """Median ms of ask + suggesting all parameters with n_complete finished Hartmann-6 trials."""
    f, bounds, _ = FUNCTIONS["hartmann6"]
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(objective(f, bounds), n_trials=n_complete)
    study.sampler = optuna.samplers.TPESampler(seed=0, multivariate=True)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        trial = study.ask()
        for i, (lo, hi) in enumerate(bounds):
            trial.suggest_float(f"x{i}", lo, hi)
        times.append((time.perf_counter() - t0) * 1000)
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--trials", type=int, default=100)
    args = ap.parse_args()
    out = {"version": optuna.__version__, "regret": {}, "seconds": {}, "askMs": {}}
    for name, (f, bounds, opt) in FUNCTIONS.items():
        for sname, make in SAMPLERS.items():
            t0 = time.time()
            regrets = []
            for seed in range(args.seeds):
                study = optuna.create_study(sampler=make(seed))
                study.optimize(objective(f, bounds), n_trials=args.trials)
                regrets.append(study.best_value - opt)
            out["regret"][f"{name}/{sname}"] = regrets
            out["seconds"][f"{name}/{sname}"] = time.time() - t0
            print(f"optuna {name} {sname} median {statistics.median(regrets):.4g}", file=sys.stderr, flush=True)
    for n in (100, 1000):
        out["askMs"][f"tpe/{n}"] = ask_ms(n)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
