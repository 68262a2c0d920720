"""Cases as data for the sweep tests: tiny specs and malformed ones with the field they name."""

TINY = '''
name = "tiny"
seeds = [0, 1]
target = 0.5
evals_per_epoch = 2
[data]
n_train = 300
n_test = 100
[model]
widths = [16]
[defaults]
epochs = 1
batch_size = 50
[[optimizers]]
name = "riem"
optimizer = "riemannian"
output_metric = "identity"
[optimizers.grid]
mass = [0.01, 0.1]
lr = [1.0]
[[optimizers]]
name = "momentum"
optimizer = "momentum"
lr = 0.05
[optimizers.grid]
beta = [0.5, 0.9]
'''
"""8 runs of a 784-16-10 MLP on 300 images: 6 steps each; ``beta`` is an optimizer keyword."""

LONG_AND_SHORT = '''
name = "kill"
seeds = [0]
target = 0.5
evals_per_epoch = 1
[data]
n_train = 300
n_test = 100
[model]
widths = [16]
[defaults]
batch_size = 100
[[optimizers]]
name = "long"
optimizer = "sgd"
lr = 0.1
epochs = 600
[[optimizers]]
name = "short"
optimizer = "adam"
epochs = 1
[optimizers.grid]
lr = [1e-3, 3e-3, 1e-2]
'''
"""One run of 1,800 steps and three of 3: the long run takes several seconds even on a fast
machine, so that a worker can be killed, and Ctrl-C pressed, while it is still going."""

BAD_SPECS = [
    # (spec text, the start of the field path the one-line error names)
    ("seeds = [0]\n", "optimizers: missing"),
    ("name = '../x'\n[[optimizers]]\nname='a'\noptimizer='sgd'\n", "name: expected letters"),
    ("seeds = 0\n[[optimizers]]\nname='a'\noptimizer='sgd'\n", "seeds: expected a non-empty"),
    ("seeds = [0, -1]\n[[optimizers]]\nname='a'\noptimizer='sgd'\n", "seeds[1]:"),
    ("sedes = [0]\n[[optimizers]]\nname='a'\noptimizer='sgd'\n", "sedes: unknown key"),
    ("target = 1.5\n[[optimizers]]\nname='a'\noptimizer='sgd'\n", "target: expected a test"),
    ("[data]\nname='imagenet'\n[[optimizers]]\nname='a'\noptimizer='sgd'\n", "data.name:"),
    ("[data]\nn_train=0\n[[optimizers]]\nname='a'\noptimizer='sgd'\n", "data.n_train:"),
    ("[[optimizers]]\nname='a'\noptimizer='lbfgs'\n", "optimizers[0] ('a').optimizer:"),
    ("[[optimizers]]\nname='a'\noptimizer=['sgd']\n", "optimizers[0] ('a').optimizer:"),
    ("[[optimizers]]\noptimizer='sgd'\n", "optimizers[0].name:"),
    ("[[optimizers]]\nname='a'\noptimizer='sgd'\n[[optimizers]]\nname='a'\noptimizer='adam'\n",
     "optimizers[1].name: 'a' is used twice"),
    ("[[optimizers]]\nname='a'\noptimizer='sgd'\n[optimizers.grid]\nlr=0.1\n",
     "optimizers[0] ('a').grid.lr: expected a non-empty list"),
    ("[[optimizers]]\nname='a'\noptimizer='sgd'\n[optimizers.grid]\nlr=[0.1, -1.0]\n",
     "optimizers[0] ('a').grid.lr[1]: lr must be a finite number > 0"),
    ("[[optimizers]]\nname='a'\noptimizer='sgd'\n[optimizers.grid]\nlr=[0.1, 0.1]\n",
     "optimizers[0] ('a').grid.lr[1]: repeats"),
    ("[[optimizers]]\nname='a'\noptimizer='sgd'\nmass=1.0\n",
     "optimizers[0] ('a'): mass applies to the optimizers"),
    ("[[optimizers]]\nname='a'\noptimizer='adam'\n[optimizers.grid]\nmomentum=[0.9]\n",
     "optimizers[0] ('a').grid.momentum: 'adam' takes no setting 'momentum'"),
    ("[defaults]\nbatchsize=64\n[[optimizers]]\nname='a'\noptimizer='sgd'\n",
     "defaults.batchsize: 'sgd' takes no setting"),
    ("[[optimizers]]\nname='a'\noptimizer='sgd'\nseed=3\n", "optimizers[0] ('a').seed: set by"),
    ("[[optimizers]]\nname='a'\noptimizer='sgd'\nlr=0.1\n[optimizers.grid]\nlr=[0.2]\n",
     "optimizers[0] ('a').lr: set as a fixed value and swept"),
    ("[[optimizers]]\nname='a'\noptimizer='riemannian'\n[optimizers.random]\nsamples=2\n"
     "mass={log_uniform=[0.0, 1.0]}\n", "optimizers[0] ('a').random.mass.log_uniform:"),
    ("[[optimizers]]\nname='a'\noptimizer='riemannian'\n[optimizers.random]\nsamples=2\n"
     "mass={normal=[0.0, 1.0]}\n", "optimizers[0] ('a').random.mass: expected one of"),
    ("[[optimizers]]\nname='a'\noptimizer='riemannian'\n[optimizers.random]\n"
     "mass={uniform=[0.1, 1.0]}\n", "optimizers[0] ('a').random.samples: missing"),
    ("[[optimizers]]\nname='a'\noptimizer='riemannian'\n[optimizers.random]\nsamples=2\n"
     "output_metric={choice=['identity', 'fisher']}\n",
     "optimizers[0] ('a').random.output_metric: unknown output_metric 'fisher'"),
    ("[[optimizers]]\nname='a'\noptimizer='riemannian'\nheatmap=['mass', 'lr']\n"
     "[optimizers.grid]\nmass=[0.1, 1.0]\n", "optimizers[0] ('a').heatmap: 'lr' must be swept"),
    ("[[optimizers]]\nname='a'\noptimizer='sgd'\nwidths=[16, 0]\n",
     "optimizers[0] ('a'): each hidden width must be a positive integer"),
    ("[[optimizers]]\nname = 'a'\noptimizer = 'sgd'\nlr = \n", "not valid TOML"),
]
