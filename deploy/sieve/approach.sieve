# Approach gateway: client-side filing on the X-Approach-Verdict header (see docs/filtering.md).
#
# The gateway removes any X-Approach-* header a sender put in the message and adds its own, so
# this header can be trusted on mail that came through the gateway.
#   suspicious, high -> filed into the "Approach" folder (created if missing), flagged
#   caution          -> kept in the inbox, flagged
# Install as (part of) the user's active script, or as a Pigeonhole sieve_before script.

require ["fileinto", "imap4flags", "mailbox"];

if header :is "X-Approach-Verdict" ["suspicious", "high"] {
    addflag "\\Flagged";
    fileinto :create "Approach";
    stop;
}

if header :is "X-Approach-Verdict" "caution" {
    addflag "\\Flagged";
    addflag "$ApproachCaution";
}
