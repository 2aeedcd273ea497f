#!/usr/bin/env python3
"""Writes Data/eval/conversation.jsonl and Data/eval/questions.jsonl: the labelled set of the
retrieval-quality test (Tests/EngramTests/RetrievalQualityTests.swift).

Two friends, Nadia and Tomas, chat over eight sessions. The turns that carry facts are
written here by hand; generic small talk (seeded, from templates) is woven between them, as
in real chat logs. Each question names the turns that answer it. Some questions need an
exact rare word or number, some are paraphrases of the turn that answers them, and many are
answered by the turn after the one whose words they use (the reply to a question).
"""
import json
import random
from datetime import datetime, timedelta, timezone

random.seed(20261202)

# (session date, [(speaker, text, label or None)]) -- a label marks a turn that questions cite.
sessions = [
    ("2026-03-02T18:00:00Z", [
        ("Nadia", "Hey Tomas! How was the move to Leipzig?", None),
        ("Tomas", "Exhausting but done. The new flat is on Karl-Liebknecht-Strasse, fourth floor, no lift.", "flat"),
        ("Nadia", "Fourth floor with no lift, ouch. Did you bring the piano?", None),
        ("Tomas", "We sold it before leaving. The buyer paid 1,850 euros, more than I hoped.", "piano"),
        ("Nadia", "What is the job like so far?", "job-q"),
        ("Tomas", "I am a hydrologist at the water board now, mostly flood models for the Weisse Elster.", "job"),
        ("Nadia", "I started pottery classes on Tuesdays, by the way.", "pottery"),
        ("Tomas", "Nice! Wheel or hand building?", None),
        ("Nadia", "Wheel. My first bowl collapsed like a sad pancake.", "bowl"),
    ]),
    ("2026-03-16T19:30:00Z", [
        ("Tomas", "Did you ever find out what was wrong with your car?", "car-q"),
        ("Nadia", "The alternator. The garage charged me 640 for it.", "car"),
        ("Tomas", "That is steep. Which garage?", None),
        ("Nadia", "Autohaus Brenner, near the ring road. Never again.", "garage"),
        ("Nadia", "How is your sister doing after the surgery?", "sister-q"),
        ("Tomas", "Much better, Lena is walking without crutches since Friday.", "sister"),
        ("Tomas", "We adopted a dog! A three year old greyhound from a rescue in Halle.", "dog"),
        ("Nadia", "Aww, what is its name?", "dogname-q"),
        ("Tomas", "Pixel. She sleeps nineteen hours a day.", "dogname"),
    ]),
    ("2026-04-05T10:00:00Z", [
        ("Nadia", "I signed up for the Berlin half marathon in June.", "marathon-plan"),
        ("Tomas", "Brave. What pace are you aiming for?", "pace-q"),
        ("Nadia", "Around 5:30 per kilometre, so a bit under two hours.", "pace"),
        ("Tomas", "My knee would never survive that.", None),
        ("Nadia", "Which book is your reading group doing this month?", "book-q"),
        ("Tomas", "The Overstory by Richard Powers. Lots of trees.", "book"),
        ("Nadia", "My landlord finally fixed the heating, after six weeks.", "heating"),
        ("Tomas", "Six weeks without heating in March? That is awful.", None),
        ("Nadia", "I used a little oil radiator I borrowed from my neighbour Ilse.", "radiator"),
    ]),
    ("2026-04-27T20:15:00Z", [
        ("Tomas", "We had a flood alert on the Weisse Elster last night, I was at the office until 3 am.", "flood"),
        ("Nadia", "Was anyone hurt?", None),
        ("Tomas", "No, the retention basin at Knauthain held. The gauge peaked at 4.12 metres.", "gauge"),
        ("Nadia", "Scary. My pottery teacher asked me to show two pieces at the spring market.", "market"),
        ("Tomas", "Which ones?", None),
        ("Nadia", "A blue celadon teapot and a set of four espresso cups.", "teapot"),
        ("Tomas", "Send me a picture! Also, Pixel ate one of my running shoes.", "shoe"),
        ("Nadia", "Ha, she is a greyhound, she should be the runner.", None),
    ]),
    ("2026-05-18T17:45:00Z", [
        ("Nadia", "I got the promotion! Team lead for the payments backend from July.", "promotion"),
        ("Tomas", "Congratulations! Will you still write code?", None),
        ("Nadia", "About half the time, and I will manage four engineers.", "team"),
        ("Tomas", "What did your parents say?", None),
        ("Nadia", "Mum cried and dad asked whether it comes with a company car. It does not.", "parents"),
        ("Tomas", "We are thinking about a trip to Slovenia in August.", "slovenia"),
        ("Nadia", "Where exactly?", "slovenia-q"),
        ("Tomas", "Lake Bohinj and then the Soca valley, camping with Pixel.", "bohinj"),
        ("Nadia", "Remember the gate code for my building if you visit: 4471.", "gatecode"),
    ]),
    ("2026-06-08T21:00:00Z", [
        ("Tomas", "How did the half marathon go?", "race-q"),
        ("Nadia", "1:57:42! Cramps at kilometre 18 but I made it.", "race"),
        ("Tomas", "Under two hours, as planned. Impressive.", None),
        ("Nadia", "My teapot sold at the market for 45 euros to a lady from Dresden.", "teapot-sold"),
        ("Tomas", "Your first sale! Are you keeping the espresso cups?", None),
        ("Nadia", "Yes, they are on my kitchen shelf now.", "cups"),
        ("Tomas", "Lena got engaged to her boyfriend Matteo.", "engaged"),
        ("Nadia", "When is the wedding?", "wedding-q"),
        ("Tomas", "Next May, in a vineyard near Verona.", "wedding"),
    ]),
    ("2026-07-20T18:30:00Z", [
        ("Nadia", "First week as team lead done. Too many meetings.", "teamlead"),
        ("Tomas", "Did you cancel the Thursday standup like you wanted?", None),
        ("Nadia", "Replaced it with a written update in our Slack channel, people love it.", "standup"),
        ("Tomas", "I started learning Slovenian on an app before the trip.", "slovenian"),
        ("Nadia", "Say something!", None),
        ("Tomas", "Hvala lepa. That is thank you very much, and that is all I know.", "hvala"),
        ("Nadia", "My neighbour Ilse is moving to a care home in Potsdam.", "ilse"),
        ("Tomas", "Will you give the radiator back?", None),
        ("Nadia", "She told me to keep it, with her old sewing machine too.", "sewing"),
    ]),
    ("2026-08-30T16:00:00Z", [
        ("Nadia", "How was Slovenia?", "trip-q"),
        ("Tomas", "Beautiful. The Soca is unreal turquoise, and Pixel swam for the first time.", "soca"),
        ("Tomas", "Our tent broke in a thunderstorm at Bohinj, we slept in the car for two nights.", "tent"),
        ("Nadia", "Oh no! Did you buy a new one?", None),
        ("Tomas", "A Vaude Hogan from a shop in Bovec, it cost 389 euros.", "newtent"),
        ("Nadia", "I sold my car. I bike to work now, 7 km each way.", "bike"),
        ("Tomas", "No more Autohaus Brenner then.", None),
        ("Nadia", "Exactly. I am also making a wedding gift for Lena: a serving bowl with her initials.", "gift"),
    ]),
]

questions = [
    ("On which street is Tomas's new flat?", ["flat"]),
    ("How much did the buyer pay for the piano?", ["piano"]),
    ("What does Tomas do for a living now?", ["job"]),
    ("What work does Tomas do at the water board?", ["job"]),
    ("On what day of the week does Nadia go to pottery?", ["pottery"]),
    ("What happened to Nadia's first bowl?", ["bowl"]),
    ("What was wrong with Nadia's car?", ["car"]),
    ("How much did the alternator repair cost?", ["car"]),
    ("Which garage did Nadia take her car to?", ["garage"]),
    ("How is Tomas's sister recovering from her operation?", ["sister"]),
    ("What kind of dog did Tomas adopt?", ["dog"]),
    ("Where did the rescue greyhound come from?", ["dog"]),
    ("What is the name of Tomas's dog?", ["dogname"]),
    ("Which race did Nadia enter?", ["marathon-plan"]),
    ("What pace per kilometre was Nadia aiming for?", ["pace"]),
    ("What book was Tomas's reading group reading?", ["book"]),
    ("How long was Nadia without heating?", ["heating"]),
    ("Who lent Nadia an oil radiator?", ["radiator"]),
    ("Where was the flood alert?", ["flood"]),
    ("What level did the river gauge reach during the flood?", ["gauge"]),
    ("Which retention basin held during the flood?", ["gauge"]),
    ("What pieces did Nadia show at the spring market?", ["teapot"]),
    ("What did the dog chew up?", ["shoe"]),
    ("What new role did Nadia get?", ["promotion"]),
    ("How many engineers will Nadia manage?", ["team"]),
    ("Does Nadia's promotion come with a company car?", ["parents"]),
    ("Where in Slovenia did Tomas plan to go?", ["bohinj"]),
    ("What is the gate code of Nadia's building?", ["gatecode"]),
    ("What was Nadia's half marathon time?", ["race"]),
    ("At which kilometre did Nadia get cramps?", ["race"]),
    ("How much did the teapot sell for?", ["teapot-sold"]),
    ("Who bought Nadia's teapot?", ["teapot-sold"]),
    ("Where are the espresso cups now?", ["cups"]),
    ("Who is Lena engaged to?", ["engaged"]),
    ("When and where is Lena's wedding?", ["wedding"]),
    ("What replaced the Thursday standup?", ["standup"]),
    ("How do you say thank you very much in Slovenian?", ["hvala"]),
    ("Where is Ilse moving?", ["ilse"]),
    ("What did Ilse give Nadia to keep?", ["sewing"]),
    ("What colour was the Soca river?", ["soca"]),
    ("What happened to the tent at Bohinj?", ["tent"]),
    ("Which tent did Tomas buy and what did it cost?", ["newtent"]),
    ("How does Nadia get to work now?", ["bike"]),
    ("What is Nadia making for Lena's wedding?", ["gift"]),
    ("What pottery items has Nadia made?", ["bowl", "teapot"]),
    ("What did Tomas sell before moving to Leipzig?", ["piano"]),
    ("Which river does Tomas model floods for?", ["job"]),
    ("How far does Nadia cycle to work?", ["bike"]),
    # Exact rare words and numbers.
    ("What does the code 4471 open?", ["gatecode"]),
    ("Who is Matteo?", ["engaged"]),
    ("What happened at Autohaus Brenner?", ["car", "garage"]),
    ("What did Tomas buy in Bovec?", ["newtent"]),
    ("Who is Pixel?", ["dogname"]),
    ("What is happening to Ilse?", ["ilse"]),
    ("What does hvala lepa mean?", ["hvala"]),
    ("What is Karl-Liebknecht-Strasse?", ["flat"]),
    ("What cost 389 euros?", ["newtent"]),
    ("What does 1:57:42 refer to?", ["race"]),
    ("What was the 640 for?", ["car"]),
    ("What reached 4.12 metres?", ["gauge"]),
    ("What sold for 45 euros?", ["teapot-sold"]),
    ("What is The Overstory?", ["book"]),
    ("Who is Lena marrying near Verona?", ["engaged", "wedding"]),
    ("What is a Vaude Hogan?", ["newtent"]),
    # Paraphrases, sharing few words with the turn that answers.
    ("Which pet joined Tomas's household?", ["dog"]),
    ("Did Nadia move up at her company?", ["promotion"]),
    ("How did Nadia do in her running event?", ["race"]),
    ("Where did Tomas and his dog sleep when the storm wrecked their shelter?", ["tent"]),
]

small_talk = {
    "Nadia": ["Haha, true.", "Same here, honestly.", "Oh that sounds lovely!", "I know, right?", "Fingers crossed.",
              "Talk soon!", "Yes, absolutely.", "That made me laugh.", "Sounds like a plan.", "Hmm, maybe.",
              "How was your weekend?", "The weather here has been grey all week.", "I am so tired today.",
              "Good night!", "Let me know how it goes.", "I have to run, call later?"],
    "Tomas": ["Ha, exactly.", "Sure, no problem.", "Same, it has been a long week.", "Oh nice.", "Totally agree.",
              "Anyway, how are you?", "We should call more often.", "It rained all day here.", "Not much news here.",
              "Cheers!", "Speak soon.", "That is good to hear.", "Yeah, I thought so too.", "I need coffee.",
              "Sorry for the late reply.", "Busy week at work."],
}

turns = []
labels = {}
for number, (start, lines) in enumerate(sessions, 1):
    t = datetime.fromisoformat(start.replace("Z", "+00:00"))
    index = 0
    previous = None
    for speaker, text, label in lines:
        # Small talk before each fact turn, so that the facts are a minority, as in real logs;
        # none between a question and its reply.
        replying = previous is not None and previous.endswith("-q")
        for _ in range(0 if replying else random.randint(2, 4)):
            who = random.choice(["Nadia", "Tomas"])
            turns.append((number, index, t, who, random.choice(small_talk[who])))
            index += 1
            t += timedelta(seconds=random.randint(20, 120))
        turns.append((number, index, t, speaker, text))
        if label:
            labels[label] = f"s{number}-t{index}"
        previous = label
        index += 1
        t += timedelta(seconds=random.randint(20, 120))

with open("Data/eval/conversation.jsonl", "w") as out:
    for number, index, t, speaker, text in turns:
        out.write(json.dumps({
            "id": f"s{number}-t{index}", "namespace": "chat", "text": text,
            "time": t.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "meta": {"speaker": speaker, "session": f"session-{number}"},
        }) + "\n")
with open("Data/eval/questions.jsonl", "w") as out:
    for question, evidence in questions:
        out.write(json.dumps({"question": question, "evidence": [labels[e] for e in evidence]}) + "\n")
print(f"{len(turns)} turns, {len(questions)} questions")
