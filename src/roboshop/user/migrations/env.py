from roboshop.kit.migrations_env import run

run()
