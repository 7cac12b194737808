-- Where each runner's internal endpoint answers (`SBX_RUNNER_URL`): the API passes a container
-- sandbox's file requests (and later its terminal and ports) to the runner that holds it.
alter table runners add column internal_url text;
